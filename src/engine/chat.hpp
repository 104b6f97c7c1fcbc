#pragma once
// Qwen3's ChatML prompt, as the official chat_template renders one user turn with
// add_generation_prompt=True (and enable_thinking=False for --no-think).
#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

// "<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n" (+ "<think>\n\n</think>\n\n").
// A follow-up turn first closes the previous assistant reply with "<|im_end|>\n".
// The message goes in verbatim and the whole turn is encoded at once, so special-token text the user
// types ("<|im_end|>", "<|im_start|>", "<|endoftext|>") becomes that special token and can open or
// close turns, exactly as Hugging Face's apply_chat_template(..., tokenize=True) encodes Qwen3's
// template (no escaping there either). The assistant header the model continues from is always the
// template's own (tests/engine/test_chat.cpp, tests/fuzz/fuzz_chat.cpp).
std::string chat_turn(std::string_view user_message, bool no_think, bool follows_reply);

// A conversation as OpenAI's `messages` give it, rendered as Qwen3's chat_template does with
// add_generation_prompt=True: a first system message, then user and system turns verbatim, earlier
// assistant turns with their <think>...</think> part dropped (the template keeps only what follows
// the last "</think>"), then the assistant header the model continues from. The subset without tools:
// any other role, no user message, or an assistant message after the last user one is qwen3::Error.
struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};
std::string chat_prompt(const std::vector<ChatMessage>& messages, bool no_think);

}  // namespace qwen3
