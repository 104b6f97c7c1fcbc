// The Communicator across the NUMA domains of one process (threads in shared memory), and the same
// collectives across "processes" x domains (src/parallel/hierarchical_communicator), against the
// single-process math they stand for. Members run as threads; "processes" are simulated by a second
// shared-memory group whose members lead each process's group, exactly as MPI ranks would.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "parallel/hierarchical_communicator.hpp"
#include "numa/shared_memory_communicator.hpp"
#include "packed_states.hpp"
#include "qwen3/online_softmax.hpp"

namespace qwen3 {
namespace {

constexpr std::int64_t kHeadDim = 5;
constexpr std::int64_t kStride = kHeadDim + 2;
constexpr int kRows = 7;

std::vector<float> states_of(int r) { return test::packed_states_of(r, kRows, kHeadDim, 99u); }

std::vector<float> values_of(int r, std::size_t n) {
  std::mt19937 rng(7 + r);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Runs body(member communicator) on one thread per member and waits for all.
void run_members(std::vector<std::unique_ptr<Communicator>>& comms, const std::function<void(Communicator&)>& body) {
  std::vector<std::thread> threads;
  for (auto& c : comms) threads.emplace_back([&body, &c] { body(*c); });
  for (auto& t : threads) t.join();
}

// The world of `processes` x `domains` members: each "process" leader builds its hierarchical
// members over a shared-memory group that plays the process communicator (`procs`, which must
// outlive the members).
std::vector<std::unique_ptr<Communicator>> hierarchical_world(int processes, int domains,
                                                              std::vector<std::unique_ptr<Communicator>>& procs) {
  procs = numa::make_shared_memory_group(processes);
  std::vector<std::vector<std::unique_ptr<Communicator>>> per_process(static_cast<std::size_t>(processes));
  std::vector<std::thread> leaders;
  for (int p = 0; p < processes; ++p)
    leaders.emplace_back([&, p] {
      per_process[static_cast<std::size_t>(p)] = make_hierarchical_world(*procs[static_cast<std::size_t>(p)], numa::make_shared_memory_group(domains));
    });
  for (auto& t : leaders) t.join();
  std::vector<std::unique_ptr<Communicator>> all;
  for (auto& v : per_process)
    for (auto& c : v) all.push_back(std::move(c));
  return all;
}

struct Shape {
  int processes, domains;
};
class Collectives : public ::testing::TestWithParam<Shape> {
 protected:
  std::vector<std::unique_ptr<Communicator>> world() {
    const Shape s = GetParam();
    return s.processes == 0 ? numa::make_shared_memory_group(s.domains) : hierarchical_world(s.processes, s.domains, procs_);
  }
  std::vector<std::unique_ptr<Communicator>> procs_;
};

// Property: every member gets the member-order sum, bit-identical on all members, with ranks numbered
// process by process.
TEST_P(Collectives, AllreduceSumIsTheSameOnEveryMember) {
  auto comms = world();
  const int n = static_cast<int>(comms.size());
  std::vector<std::vector<float>> out(static_cast<std::size_t>(n));
  run_members(comms, [&](Communicator& c) {
    std::vector<float> v = values_of(c.rank(), 1000);
    c.allreduce_sum(v);
    out[static_cast<std::size_t>(c.rank())] = v;
  });
  for (std::size_t i = 0; i < 1000; ++i) {
    double want = 0;
    for (int r = 0; r < n; ++r) want += values_of(r, 1000)[i];
    EXPECT_NEAR(out[0][i], want, 1e-5) << i;
    for (int r = 1; r < n; ++r) ASSERT_EQ(out[static_cast<std::size_t>(r)][i], out[0][i]) << "member " << r << " element " << i;
  }
}

// Property: merge gives every member the merge() of all members' states (to float rounding), and rows
// empty everywhere stay empty.
TEST_P(Collectives, MergeEqualsScalarMergeOfAllMembers) {
  auto comms = world();
  const int n = static_cast<int>(comms.size());
  std::vector<float> want = states_of(0);
  for (int r = 1; r < n; ++r) merge_rows(want, states_of(r), kHeadDim);
  std::vector<std::vector<float>> out(static_cast<std::size_t>(n));
  run_members(comms, [&](Communicator& c) {
    std::vector<float> s = states_of(c.rank());
    c.merge_softmax_states(s, kHeadDim);
    out[static_cast<std::size_t>(c.rank())] = s;
  });
  for (int r = 0; r < n; ++r) {
    EXPECT_TRUE(OnlineSoftmaxState(out[static_cast<std::size_t>(r)].data(), kHeadDim).empty());
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (std::isinf(want[i])) {
        EXPECT_EQ(out[static_cast<std::size_t>(r)][i], want[i]);
        continue;
      }
      EXPECT_NEAR(out[static_cast<std::size_t>(r)][i], want[i], 1e-5f * (1.f + std::abs(want[i]))) << "member " << r << " element " << i;
    }
  }
}

// Property: the scatter form gives member r exactly rows [sum of counts before r, + counts[r]) of the
// full merge.
TEST_P(Collectives, MergeScatterGivesEachMemberItsRows) {
  auto comms = world();
  const int n = static_cast<int>(comms.size());
  std::vector<float> want = states_of(0);
  for (int r = 1; r < n; ++r) merge_rows(want, states_of(r), kHeadDim);
  std::vector<std::int64_t> counts(static_cast<std::size_t>(n), 0);
  for (int row = 0; row < kRows; ++row) ++counts[static_cast<std::size_t>(row % n)];
  run_members(comms, [&](Communicator& c) {
    const std::vector<float> s = states_of(c.rank());
    std::int64_t first = 0;
    for (int m = 0; m < c.rank(); ++m) first += counts[static_cast<std::size_t>(m)];
    std::vector<float> mine(static_cast<std::size_t>(counts[static_cast<std::size_t>(c.rank())] * kStride));
    c.merge_softmax_states_scatter(s, mine, counts, kHeadDim);
    for (std::size_t i = 0; i < mine.size(); ++i) {
      const float w = want[static_cast<std::size_t>(first * kStride) + i];
      if (std::isinf(w)) EXPECT_EQ(mine[i], w);
      else EXPECT_NEAR(mine[i], w, 1e-5f * (1.f + std::abs(w))) << "member " << c.rank() << " element " << i;
    }
  });
}

// Property: argmax finds the largest value over members, ties to the lowest index, on every member;
// broadcast copies the root's data; allgather and gather concatenate in member order.
TEST_P(Collectives, ArgmaxBroadcastAllgatherGather) {
  auto comms = world();
  const int n = static_cast<int>(comms.size());
  run_members(comms, [&](Communicator& c) {
    const int r = c.rank();
    // Element 0: member n-1 holds the maximum; element 1: every member ties at 5 with index 10 + r.
    std::vector<float> v = {static_cast<float>(r), 5.f};
    std::vector<std::int32_t> ix = {100 + r, 10 + r};
    c.argmax(v, ix);
    EXPECT_EQ(v[0], static_cast<float>(n - 1));
    EXPECT_EQ(ix[0], 100 + n - 1);
    EXPECT_EQ(ix[1], 10);

    const int root = n - 1;
    std::vector<std::int32_t> b = {r == root ? 42 : -1, r == root ? 43 : -1};
    c.broadcast(std::span<std::int32_t>(b), root);
    EXPECT_EQ(b, (std::vector<std::int32_t>{42, 43}));
    std::vector<float> bf = {r == 0 ? 1.5f : 0.f};
    c.broadcast(std::span<float>(bf), 0);
    EXPECT_EQ(bf[0], 1.5f);

    // Member m contributes m + 1 values equal to m.
    std::vector<std::int64_t> counts;
    for (int m = 0; m < n; ++m) counts.push_back(m + 1);
    std::vector<float> mine(static_cast<std::size_t>(r + 1), static_cast<float>(r));
    std::vector<float> all(static_cast<std::size_t>(n * (n + 1) / 2));
    c.allgather(mine, all, counts);
    std::vector<float> want;
    for (int m = 0; m < n; ++m) want.insert(want.end(), static_cast<std::size_t>(m + 1), static_cast<float>(m));
    EXPECT_EQ(all, want);
    const std::vector<float> g = c.gather(mine, 0);
    if (r == 0) EXPECT_EQ(g, want);
    else EXPECT_TRUE(g.empty());
  });
}

// Property: split groups members by color, orders them by key, and the new groups' collectives work
// independently and at the same time (here: sums within each group, as the layout's KV groups do).
// With 2 processes x 3 domains the pair {2, 3} spans both processes and is led on process 0 by a
// member that does not lead the process.
TEST_P(Collectives, SplitFormsIndependentGroups) {
  auto comms = world();
  const int n = static_cast<int>(comms.size());
  run_members(comms, [&](Communicator& c) {
    const int color = c.rank() / 2;  // consecutive pairs, like sp groups
    auto sub = c.split(color, c.rank() % 2);
    const int group_size = std::min(2, n - 2 * color);
    EXPECT_EQ(sub->size(), group_size);
    EXPECT_EQ(sub->rank(), c.rank() % 2);
    std::vector<float> v = {static_cast<float>(c.rank())};
    sub->allreduce_sum(v);
    float want = 0;
    for (int m = 2 * color; m < 2 * color + group_size; ++m) want += static_cast<float>(m);
    EXPECT_EQ(v[0], want);
    // The same color for everyone gives the whole world back, in order.
    auto all = c.split(7, c.rank());
    EXPECT_EQ(all->size(), n);
    EXPECT_EQ(all->rank(), c.rank());
  });
}

INSTANTIATE_TEST_SUITE_P(Shapes, Collectives,
                         ::testing::Values(Shape{0, 2}, Shape{0, 3}, Shape{0, 4}, Shape{2, 2}, Shape{3, 2}, Shape{2, 1}, Shape{1, 3}, Shape{2, 3}),
                         [](const auto& info) {
                           return info.param.processes == 0 ? "domains" + std::to_string(info.param.domains)
                                                            : std::to_string(info.param.processes) + "processes_x" +
                                                                  std::to_string(info.param.domains) + "domains";
                         });

}  // namespace
}  // namespace qwen3
