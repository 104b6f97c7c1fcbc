#pragma once
// Partition math for distributing work: pure functions returning half-open ranges. Uneven splits are
// allowed (the first `n % parts` parts get one more item); impossible requests are qwen3::Error, not
// asserts, so they are reported in Release builds too. Implemented in src/base/ (library qwen3_base).
#include <cstdint>

namespace qwen3 {

struct Range {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

// Items [begin, end) of part `part` when n items are split into `parts` contiguous parts.
// Throws qwen3::Error if parts < 1, part is outside [0, parts) or n < 0.
Range split_even(std::int64_t n, int part, int parts);
// split_even of n / align units of `align` items where n is a multiple of align and there are at least
// as many units as parts (every part's bounds then fall on multiples of align), else split_even itself.
Range split_aligned(std::int64_t n, int part, int parts, std::int64_t align);
// (How ranks use it: src/parallel/layout.hpp. KV blocks are dealt in snake order: KvBlockOwner.)

}  // namespace qwen3
