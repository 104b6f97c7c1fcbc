#include "requests/json_fields.hpp"

namespace qwen3::requests {

using nlohmann::json;

std::vector<std::int32_t> id_list(const json& j, const std::string& field) {
  if (!j.is_array()) throw Error(field + ": expected a list of token ids");
  std::vector<std::int32_t> ids;
  ids.reserve(j.size());
  for (const json& v : j) ids.push_back(number<std::int32_t>(v, field, 0, INT32_MAX));
  return ids;
}

namespace {

std::string content_text(const json& c) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) throw Error("messages: content must be a string or a list of text parts");
  std::string text;
  for (const json& part : c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      throw Error("messages: only text content parts ({\"type\": \"text\", \"text\": ...}) are supported");
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

std::vector<ChatMessage> chat_messages(const json& j) {
  if (!j.is_array() || j.empty()) throw Error("messages: expected a non-empty list of {role, content}");
  std::vector<ChatMessage> out;
  for (const json& m : j) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content"))
      throw Error("messages: every message needs a string role and a content");
    out.push_back({m["role"].get<std::string>(), content_text(m["content"])});
  }
  return out;
}

}  // namespace qwen3::requests
