#pragma once
// Qwen3's ChatML prompt, as the official chat_template renders one user turn with
// add_generation_prompt=True (and enable_thinking=False for --no-think).
#include <string>
#include <string_view>

namespace qwen3 {

// "<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n" (+ "<think>\n\n</think>\n\n").
// A follow-up turn first closes the previous assistant reply with "<|im_end|>\n".
std::string chat_turn(std::string_view user_message, bool no_think, bool follows_reply);

}  // namespace qwen3
