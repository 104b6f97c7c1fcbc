#include "qwen3/partition.hpp"

#include <string>

#include "qwen3/error.hpp"

namespace qwen3 {

Range split_even(std::int64_t n, int part, int parts) {
  if (parts < 1) throw Error("cannot split into " + std::to_string(parts) + " parts");
  if (part < 0 || part >= parts) throw Error("part " + std::to_string(part) + " is outside [0, " + std::to_string(parts) + ")");
  if (n < 0) throw Error("cannot split a negative count " + std::to_string(n));
  const std::int64_t base = n / parts, extra = n % parts;
  const std::int64_t begin = part * base + std::min<std::int64_t>(part, extra);
  return {begin, begin + base + (part < extra ? 1 : 0)};
}

Range split_aligned(std::int64_t n, int part, int parts, std::int64_t align) {
  if (align < 1 || n % align != 0 || n / align < parts) return split_even(n, part, parts);
  const Range units = split_even(n / align, part, parts);
  return {units.begin * align, units.end * align};
}

}  // namespace qwen3
