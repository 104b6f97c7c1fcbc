#include "utf8.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <new>

#include "unicode_tables.hpp"

namespace qwen3::tok {

int utf8_next(const unsigned char* p, std::size_t n, char32_t* cp) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  // Length and allowed range of the second byte (Unicode Table 3-7, well-formed byte sequences).
  int len;
  unsigned char lo = 0x80, hi = 0xBF;
  char32_t value;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    value = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    value = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    value = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return -1;  // 80..C1, F5..FF never start a sequence
  }
  for (int i = 1; i < len; ++i) {
    if (static_cast<std::size_t>(i) >= n) return 0;
    const unsigned char b = p[i];
    if (b < lo || b > hi) return -i;
    value = (value << 6) | (b & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  *cp = value;
  return len;
}

bool utf8_valid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    char32_t cp;
    const int r = utf8_next(p + i, n - i, &cp);
    if (r <= 0) return false;
    i += static_cast<std::size_t>(r);
  }
  return true;
}

std::string utf8_repair(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    char32_t cp;
    const int r = utf8_next(p + i, n - i, &cp);
    if (r > 0) {
      out.append(s.data() + i, static_cast<std::size_t>(r));
      i += static_cast<std::size_t>(r);
    } else {
      out += kReplacementChar;
      i += r < 0 ? static_cast<std::size_t>(-r) : n - i;  // a truncated tail is one subpart
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

// utf8proc's NFC of well-formed UTF-8.
void append_nfc(std::string& out, std::string_view s) {
  if (s.empty()) return;
  // An explicit length (no UTF8PROC_NULLTERM) keeps embedded U+0000 characters.
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t len = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
      &dst, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(dst, &std::free);
  if (len < 0) {
    // Only UTF8PROC_ERROR_NOMEM can happen on well-formed input.
    if (len == UTF8PROC_ERROR_NOMEM) throw std::bad_alloc();
    out.append(s);
    return;
  }
  out.append(reinterpret_cast<const char*>(dst), static_cast<std::size_t>(len));
}

bool is_nfc_barrier(char32_t cp) {
  const auto table = nfc_barrier();
  if (table.empty() || cp < table.front().lo) return false;
  const auto it = std::upper_bound(table.begin(), table.end(), cp,
                                   [](char32_t c, const CodeRange& r) { return c < r.lo; });
  return it != table.begin() && cp <= std::prev(it)->hi;
}

}  // namespace

std::string nfc(std::string_view s) {
  bool ascii = true;
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(s);
  // HF normalises with Unicode 9.0 tables: the barrier characters (newer, and taking part in
  // normalisation) are plain starters to it that compose with nothing. Such a starter separates
  // what is before it from what is after it, so normalise the stretches between them on their own
  // and copy the barriers through.
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    char32_t cp = 0;
    const int r = utf8_next(p + i, s.size() - i, &cp);
    const std::size_t len = r > 0 ? static_cast<std::size_t>(r) : 1;
    if (r > 0 && is_nfc_barrier(cp)) {
      append_nfc(out, s.substr(start, i - start));
      out.append(s.substr(i, len));
      start = i + len;
    }
    i += len;
  }
  append_nfc(out, s.substr(start));
  return out;
}

bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool is_word_char(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  if (c == 0x200C || c == 0x200D) return true;  // Join_Control
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

}  // namespace qwen3::tok
