#pragma once
// Qwen3's ChatML prompt, as the official chat_template renders one user turn with
// add_generation_prompt=True (and enable_thinking=False for --no-think).
#include <string>
#include <string_view>

namespace qwen3 {

// "<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n" (+ "<think>\n\n</think>\n\n").
// A follow-up turn first closes the previous assistant reply with "<|im_end|>\n".
// The message goes in verbatim and the whole turn is encoded at once, so special-token text the user
// types ("<|im_end|>", "<|im_start|>", "<|endoftext|>") becomes that special token and can open or
// close turns, exactly as Hugging Face's apply_chat_template(..., tokenize=True) encodes Qwen3's
// template (no escaping there either). The assistant header the model continues from is always the
// template's own (tests/engine/test_chat.cpp, tests/fuzz/fuzz_chat.cpp).
std::string chat_turn(std::string_view user_message, bool no_think, bool follows_reply);

}  // namespace qwen3
