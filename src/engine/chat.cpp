#include "engine/chat.hpp"

namespace qwen3 {

std::string chat_turn(std::string_view user_message, bool no_think, bool follows_reply) {
  std::string s;
  if (follows_reply) s += "<|im_end|>\n";
  s += "<|im_start|>user\n";
  s += user_message;
  s += "<|im_end|>\n<|im_start|>assistant\n";
  if (no_think) s += "<think>\n\n</think>\n\n";
  return s;
}

}  // namespace qwen3
