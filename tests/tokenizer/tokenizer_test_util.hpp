#pragma once
// Shared helpers for the tokenizer tests: fixture loading, the Qwen3 tokenizer (extracted from
// tests/data/qwen3-tokenizer/tokenizer.json.tar.xz at configure time), temp files.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "qwen3/tokenizer.hpp"

#include "temp_dir.hpp"

namespace qwen3::test {

inline const std::filesystem::path kTokData =
    std::filesystem::path(QWEN3_TEST_DATA_DIR) / "tokenizer";
inline const std::filesystem::path kQwenTokenizerJson =
    std::filesystem::path(QWEN3_BUILD_DATA_DIR) / "qwen3-tokenizer" / "tokenizer.json";

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline nlohmann::json read_json(const std::filesystem::path& p) {
  return nlohmann::json::parse(read_file(p));
}

struct Case {
  std::string text;
  std::vector<std::int32_t> ids;
  std::string nfc;  // empty for fixtures without it
};

inline std::vector<Case> load_cases(const std::filesystem::path& p) {
  std::vector<Case> out;
  for (const auto& e : read_json(p)) {
    Case c;
    c.text = e.at("text").get<std::string>();
    c.ids = e.at("ids").get<std::vector<std::int32_t>>();
    if (e.contains("nfc")) c.nfc = e.at("nfc").get<std::string>();
    out.push_back(std::move(c));
  }
  return out;
}

// The Qwen3 tokenizer, loaded once per test process.
inline const Tokenizer& qwen() {
  static const Tokenizer tok = Tokenizer::from_file(kQwenTokenizerJson);
  return tok;
}


// Printable form of a string for failure messages (non-ASCII and controls as \xNN).
inline std::string escaped(const std::string& s, std::size_t max = 200) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace qwen3::test
