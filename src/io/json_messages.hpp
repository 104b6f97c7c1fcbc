#pragma once
// Short, one-line descriptions of JSON problems for qwen3::Error messages (config.json, safetensors
// headers, index files).
#include <nlohmann/json.hpp>
#include <string>

#include "qwen3/error.hpp"

namespace qwen3::io {

// "integer" for both integer kinds, otherwise nlohmann's type name ("string", "array", ...).
inline const char* json_type(const nlohmann::json& j) {
  if (j.is_number_unsigned() || j.is_number_integer()) return "integer";
  return j.type_name();
}

// nlohmann's exceptions say "[json.exception.parse_error.101] parse error at ...": keep the
// part after the tag, at most 200 characters, on one line.
inline std::string short_parse_reason(const nlohmann::json::exception& e) {
  std::string w = e.what();
  if (auto pos = w.find("] "); pos != std::string::npos && w.rfind("[json.exception", 0) == 0) w = w.substr(pos + 2);
  if (w.size() > 200) w = w.substr(0, 200) + "...";
  return one_line(w);
}

}  // namespace qwen3::io
