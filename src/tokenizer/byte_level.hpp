#pragma once
// The GPT-2 byte-to-unicode table used by the ByteLevel pre-tokenizer and decoder: every byte maps
// to a printable code point, so a byte string becomes a string of visible characters (space -> 'Ġ',
// newline -> 'Ċ'). Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to themselves; the other 68 bytes
// map to U+0100, U+0101, ... in increasing byte order.
#include <array>
#include <cstdint>

namespace qwen3::tok {

const std::array<char32_t, 256>& byte_to_unicode();

// The byte that maps to cp, or -1 when cp is not in the table.
int unicode_to_byte(char32_t cp);

}  // namespace qwen3::tok
