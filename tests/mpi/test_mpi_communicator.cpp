// The MPI communicator against the single-process math it stands for.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "mpi/mpi_communicator.hpp"
#include "mpi_test_world.hpp"
#include "packed_states.hpp"
#include "qwen3/online_softmax.hpp"

namespace qwen3 {
namespace {

constexpr std::int64_t kHeadDim = 6;
constexpr std::int64_t kStride = kHeadDim + 2;
constexpr int kRows = 6;

std::vector<float> states_of_rank(int r) { return test::packed_states_of(r, kRows, kHeadDim, 1234u); }

// Property: the user-defined MPI_Op, as an allreduce over any number of ranks, gives every rank the
// rank-order merge() of all ranks' states (to float rounding: MPI may associate differently), and
// leaves rows empty on every rank empty.
TEST(MergeOp, AllreduceEqualsScalarMergeOfAllRanks) {
  Communicator& world = test::world();
  std::vector<float> mine = states_of_rank(world.rank());
  std::vector<float> want = states_of_rank(0);
  for (int r = 1; r < world.size(); ++r) merge_rows(want, states_of_rank(r), kHeadDim);
  world.merge_softmax_states(mine, kHeadDim);
  EXPECT_TRUE(OnlineSoftmaxState(mine.data(), kHeadDim).empty());
  for (std::size_t i = 0; i < mine.size(); ++i) {
    ASSERT_FALSE(std::isnan(mine[i])) << "element " << i;
    if (std::isinf(want[i])) {
      EXPECT_EQ(mine[i], want[i]) << "row " << i / kStride;
      continue;
    }
    EXPECT_NEAR(mine[i], want[i], 1e-5f * (1.f + std::abs(want[i]))) << "row " << i / kStride << " element " << i % kStride;
  }
}

// Property: argmax gives every rank the largest value and, on ties, the lowest index.
TEST(Collectives, ArgmaxTiesGoToLowestIndex) {
  Communicator& world = test::world();
  const int r = world.rank();
  std::vector<float> v = {static_cast<float>(r), 5.f, r == world.size() - 1 ? 9.f : 1.f};
  std::vector<std::int32_t> idx = {100 + r, 200 + (world.size() - r), 300 + r};
  world.argmax(v, idx);
  EXPECT_EQ(v[0], static_cast<float>(world.size() - 1));
  EXPECT_EQ(idx[0], 100 + world.size() - 1);
  EXPECT_EQ(v[1], 5.f);
  EXPECT_EQ(idx[1], 201);  // every rank has 5; the lowest index is the last rank's
  EXPECT_EQ(idx[2], 300 + world.size() - 1);
}

// Property: gather concatenates in rank order on the root only; sums and broadcasts reach everyone.
TEST(Collectives, GatherSumBroadcast) {
  Communicator& world = test::world();
  const int r = world.rank(), n = world.size();
  std::vector<float> mine(static_cast<std::size_t>(r), static_cast<float>(r));  // rank r sends r copies of r
  const std::vector<float> all = world.gather(mine, 0);
  if (r == 0) {
    std::vector<float> want;
    for (int k = 0; k < n; ++k) want.insert(want.end(), static_cast<std::size_t>(k), static_cast<float>(k));
    EXPECT_EQ(all, want);
  } else {
    EXPECT_TRUE(all.empty());
  }
  float x[2] = {1.f, static_cast<float>(r)};
  world.allreduce_sum(x);
  EXPECT_EQ(x[0], static_cast<float>(n));
  EXPECT_EQ(x[1], static_cast<float>(n * (n - 1) / 2));
  std::int32_t b[2] = {r == 0 ? 7 : -1, r == 0 ? 8 : -1};
  world.broadcast(b, 0);
  EXPECT_EQ(b[0], 7);
  EXPECT_EQ(b[1], 8);
  if (n > 1) {  // one process skips MPI altogether
    EXPECT_GT(world.stats().calls, 0u);
  }
}

}  // namespace
}  // namespace qwen3
