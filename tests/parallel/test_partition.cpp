// Partition math: ranges cover every item exactly once, uneven splits differ by at most one, and
// impossible requests are errors in Release builds (not asserts).
#include <gtest/gtest.h>

#include "qwen3/error.hpp"
#include "qwen3/partition.hpp"

namespace qwen3 {
namespace {

// Property: for many (n, parts), the parts tile [0, n) in order and sizes differ by at most one.
TEST(Partition, SplitEvenTilesExactly) {
  for (std::int64_t n : {0, 1, 7, 8, 16, 100}) {
    for (int parts : {1, 2, 3, 5, 8, 13}) {
      std::int64_t next = 0, lo = n, hi = 0;
      for (int p = 0; p < parts; ++p) {
        const Range r = split_even(n, p, parts);
        EXPECT_EQ(r.begin, next);
        next = r.end;
        lo = std::min(lo, r.size());
        hi = std::max(hi, r.size());
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(hi - lo, 1);
    }
  }
}

// Property: 8 items on 3 parts split 3/3/2, and a part beyond the items is empty, not an error (a
// member with no head or no block contributes nothing).
TEST(Partition, UnevenAndEmptyParts) {
  EXPECT_EQ(split_even(8, 0, 3), (Range{0, 3}));
  EXPECT_EQ(split_even(8, 1, 3), (Range{3, 6}));
  EXPECT_EQ(split_even(8, 2, 3), (Range{6, 8}));
  EXPECT_EQ(split_even(4, 8, 9), (Range{4, 4}));
}

// Property: bad part counts and indices are reported as qwen3::Error.
TEST(Partition, BadRequestsAreErrors) {
  EXPECT_THROW(split_even(10, 0, 0), Error);
  EXPECT_THROW(split_even(10, 3, 3), Error);
  EXPECT_THROW(split_even(10, -1, 3), Error);
  EXPECT_THROW(split_even(-1, 0, 3), Error);
}

}  // namespace
}  // namespace qwen3
