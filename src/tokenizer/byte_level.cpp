#include "byte_level.hpp"

namespace qwen3::tok {
namespace {

constexpr bool maps_to_itself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr std::array<char32_t, 256> make_table() {
  std::array<char32_t, 256> table{};
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) table[b] = maps_to_itself(b) ? static_cast<char32_t>(b) : next++;
  return table;
}

constexpr std::array<char32_t, 256> kByteToUnicode = make_table();

// The table's image is 0x21..0xFF (minus the 68 remapped bytes) and 0x100..0x143.
constexpr std::array<std::int16_t, 0x144> make_inverse() {
  std::array<std::int16_t, 0x144> inv{};
  for (auto& v : inv) v = -1;
  for (int b = 0; b < 256; ++b) inv[kByteToUnicode[b]] = static_cast<std::int16_t>(b);
  return inv;
}

constexpr std::array<std::int16_t, 0x144> kUnicodeToByte = make_inverse();

}  // namespace

const std::array<char32_t, 256>& byte_to_unicode() { return kByteToUnicode; }

int unicode_to_byte(char32_t cp) { return cp < kUnicodeToByte.size() ? kUnicodeToByte[cp] : -1; }

}  // namespace qwen3::tok
