#pragma once
// UTF-8 helpers private to the tokenizer: one-sequence decoding with the Unicode "maximal subpart"
// rule for ill-formed input (the rule Python's bytes.decode(errors="replace") follows), repair of
// ill-formed input to U+FFFD, NFC through utf8proc, and the two character classes the added-token
// flags need (White_Space and the regex \w).
#include <cstddef>
#include <string>
#include <string_view>

namespace qwen3::tok {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Decodes the sequence starting at p[0] (n >= 1 bytes available).
//   > 0: a well-formed sequence of that many bytes, code point in *cp;
//   < 0: an ill-formed maximal subpart of -result bytes (replace it with one U+FFFD);
//   == 0: a well-formed prefix that runs off the end of the input (more bytes could complete it).
int utf8_next(const unsigned char* p, std::size_t n, char32_t* cp);

// True when the whole string is well-formed UTF-8.
bool utf8_valid(std::string_view s);

// Each ill-formed maximal subpart (including a truncated sequence at the end) becomes U+FFFD.
std::string utf8_repair(std::string_view s);

void append_utf8(std::string& out, char32_t cp);

// NFC of well-formed UTF-8 as Hugging Face computes it (Unicode 9.0 data, see unicode_tables.hpp);
// ASCII-only input is returned as is.
std::string nfc(std::string_view s);

bool is_white_space(char32_t cp);  // Unicode White_Space property
bool is_word_char(char32_t cp);    // regex \w: letters, marks, decimal digits, connector punct.

}  // namespace qwen3::tok
