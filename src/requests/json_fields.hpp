#pragma once
// Typed, range-checked reads of JSON fields from outside requests (batch input lines, the server's
// OpenAI-style bodies). Each throws qwen3::Error with one line naming the field and what was wrong.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/chat.hpp"
#include "qwen3/error.hpp"

namespace qwen3::requests {

// A number in [lo, hi]; an integer type also refuses 1.5 (and 1e3 written as a float).
template <class T>
T number(const nlohmann::json& j, const std::string& field, T lo, T hi) {
  if (!j.is_number() || (std::is_integral_v<T> && !j.is_number_integer()))
    throw Error(field + ": expected " + (std::is_integral_v<T> ? "an integer" : "a number"));
  const double v = j.get<double>();
  if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)))
    throw Error(field + ": " + j.dump() + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  if constexpr (std::is_unsigned_v<T>) {
    if (j.is_number_integer() && !j.is_number_unsigned()) throw Error(field + ": expected a non-negative integer");
  }
  return j.get<T>();
}

// A list of token ids in [0, INT32_MAX] (a range check against the vocabulary comes later, where it is known).
std::vector<std::int32_t> id_list(const nlohmann::json& j, const std::string& field);

// OpenAI's `messages`: a non-empty list of {role, content}, content a string or a list of
// {"type": "text", "text": ...} parts (joined with newlines, as vLLM does). Roles are checked by
// chat_prompt() when the conversation is rendered.
std::vector<ChatMessage> chat_messages(const nlohmann::json& j);

}  // namespace qwen3::requests
