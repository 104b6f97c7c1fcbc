#include "engine/chat.hpp"

#include "qwen3/error.hpp"

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

namespace {

// What the template keeps of an earlier assistant turn: the text after its last "</think>", with the
// newlines that follow it removed.
std::string without_reasoning(const std::string& content) {
  const std::size_t end = content.rfind("</think>");
  if (end == std::string::npos) return content;
  const std::size_t start = content.find_first_not_of('\n', end + 8);
  return start == std::string::npos ? std::string() : content.substr(start);
}

bool is_tool_response(const std::string& s) {
  return s.rfind("<tool_response>", 0) == 0 && s.size() >= 16 && s.compare(s.size() - 16, 16, "</tool_response>") == 0;
}

}  // namespace

std::string chat_prompt(const std::vector<ChatMessage>& messages, bool no_think) {
  std::ptrdiff_t last_query = -1;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      throw Error("messages[" + std::to_string(i) + "]: role '" + m.role + "' is not supported (system, user or assistant)");
    if (m.role == "user" && !is_tool_response(m.content)) last_query = static_cast<std::ptrdiff_t>(i);
  }
  if (last_query < 0) throw Error("messages: no user message to answer");
  if (messages.back().role == "assistant")
    throw Error("messages: the last message is the assistant's; continuing a reply is not supported");
  std::string s;
  for (const ChatMessage& m : messages) {
    const std::string content = m.role == "assistant" ? without_reasoning(m.content) : m.content;
    s += "<|im_start|>" + m.role + "\n" + content + "<|im_end|>\n";
  }
  s += "<|im_start|>assistant\n";
  if (no_think) s += "<think>\n\n</think>\n\n";
  return s;
}

}  // namespace qwen3
