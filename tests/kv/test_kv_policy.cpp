// Eviction policies on the KV cache: each keeps exactly the tokens it says, members of a sequence-
// parallel group agree, memory stops growing once the budget is reached, and kept rows survive the
// compaction of their blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "kv/kv_policy.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

const KvCacheShape kShape{2, 1, 2, 4, KvType::F32};  // 2 layers, 1 KV head of 2 dims, blocks of 4

// The live positions a cache holds, sorted.
std::vector<std::int32_t> live_positions(const KvCache& cache) {
  std::vector<std::int32_t> out;
  for (const auto& blk : cache.blocks())
    for (std::int32_t p : blk->positions())
      if (p != KvBlock::kEvicted) out.push_back(p);
  std::sort(out.begin(), out.end());
  return out;
}

// Feeds `chunks` through `policy` into `cache` (positions = append indices, as Session feeds them);
// every token's K row is (pos, layer), its V row (-pos, layer).
void stream(KvEvictionPolicy& policy, KvCache& cache, const std::vector<std::int64_t>& chunks) {
  for (std::int64_t n : chunks) {
    policy.make_room(cache, n);
    std::vector<std::int32_t> pos(static_cast<std::size_t>(n));
    std::iota(pos.begin(), pos.end(), static_cast<std::int32_t>(cache.appended()));
    const auto slots = cache.append(pos);
    for (std::int64_t layer = 0; layer < 2; ++layer) {
      std::vector<float> k, v;
      for (std::int32_t p : pos) {
        k.insert(k.end(), {static_cast<float>(p), static_cast<float>(layer)});
        v.insert(v.end(), {-static_cast<float>(p), static_cast<float>(layer)});
      }
      cache.store(layer, slots, k.data(), v.data());
    }
  }
}

std::vector<std::int32_t> range(std::int32_t a, std::int32_t b) {
  std::vector<std::int32_t> r(static_cast<std::size_t>(b - a));
  std::iota(r.begin(), r.end(), a);
  return r;
}

// Property: sink-window keeps the first `sink` tokens and the `window` most recent, after every chunk,
// and attends the sinks just before the oldest kept token (sink_shift = oldest kept - sinks).
TEST(KvPolicy, SinkWindowKeepsSinksAndRecent) {
  KvEvictionPolicy policy({KvPolicyKind::SinkWindow, 2, 5, 1, 0});
  KvCache cache(kShape, policy.budget());
  std::int32_t end = 0;
  for (std::int64_t n : {3, 1, 1, 4, 1, 5, 2, 1, 1, 3}) {
    stream(policy, cache, {n});
    end += static_cast<std::int32_t>(n);
    std::vector<std::int32_t> want = range(0, std::min(end, 2));
    const auto recent = range(std::max(2, end - 5), end);
    want.insert(want.end(), recent.begin(), recent.end());
    EXPECT_EQ(live_positions(cache), want) << "after " << end << " tokens";
    EXPECT_EQ(cache.size(), static_cast<std::int64_t>(want.size()));
    EXPECT_EQ(cache.sink_shift(), std::max(0, end - 5 - 2)) << "after " << end << " tokens";
  }
}

// Property: window keeps only the most recent tokens (no sinks, no shift).
TEST(KvPolicy, WindowKeepsRecentOnly) {
  KvEvictionPolicy policy({KvPolicyKind::Window, 4, 6, 1, 0});
  KvCache cache(kShape, policy.budget());
  stream(policy, cache, {5, 1, 1, 1, 4, 3});
  EXPECT_EQ(live_positions(cache), range(9, 15));
  EXPECT_EQ(cache.sink_shift(), 0);
}

// Property: --evict-chunk N evicts N at once: the kept count saws between window - N + 1 and window.
TEST(KvPolicy, EvictChunkEvictsSeveralAtOnce) {
  KvEvictionPolicy policy({KvPolicyKind::SinkWindow, 1, 6, 3, 0});
  KvCache cache(kShape, policy.budget());
  std::vector<std::int64_t> sizes;
  for (int i = 0; i < 12; ++i) {
    stream(policy, cache, {1});
    sizes.push_back(cache.size());
  }
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 5, 6, 7, 5, 6}));
}

// Property: random keeps the sinks, holds exactly the budget once full, and the same seed keeps the
// same tokens (so sequence-parallel members agree); another seed keeps others.
TEST(KvPolicy, RandomKeepsBudgetAndSinksAndIsSeeded) {
  auto run = [](std::uint64_t seed) {
    KvEvictionPolicy policy({KvPolicyKind::Random, 2, 6, 1, seed});
    KvCache cache(kShape, policy.budget());
    stream(policy, cache, {3, 4, 1, 1, 1, 5, 1, 1, 2, 1, 1, 1});
    EXPECT_EQ(cache.size(), 8);
    const auto kept = live_positions(cache);
    EXPECT_EQ(kept[0], 0);
    EXPECT_EQ(kept[1], 1);
    EXPECT_EQ(kept.back(), 21);  // the newest token is never the one evicted for itself
    return kept;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

// Property: l2 evicts the kept token whose key has the largest norm (the oldest on a tie) and keeps
// --sink sinks whatever their norms; the cache reports each token's norm summed over layers and heads.
TEST(KvPolicy, L2EvictsLargestKeyNorms) {
  KvEvictionPolicy policy({KvPolicyKind::L2, 1, 3, 1, 0});
  KvCache cache(kShape, policy.budget());
  cache.track_key_norms(true);
  const float norms[] = {100, 5, 1, 9, 2, 8, 3};
  for (std::int64_t t = 0; t < 7; ++t) {
    stream(policy, cache, {1});
    const auto measured = cache.take_key_norms(t, 1);  // rows (t, 0) and (t, 1): |t| + sqrt(t^2 + 1)
    EXPECT_FLOAT_EQ(measured[0], static_cast<float>(t + std::sqrt(t * t + 1.0)));
    policy.observe_key_norms(t, std::span<const float>(&norms[t], 1));
  }
  // t4 evicts 3 (norm 9), t5 evicts 1 (5), t6 evicts 5 (8); the sink 0 (norm 100) stays.
  EXPECT_EQ(live_positions(cache), (std::vector<std::int32_t>{0, 2, 4, 6}));
  EXPECT_EQ(cache.take_key_norms(0, 7), std::vector<float>(7, 0.f));  // handed out once
}

// Property: h2o keeps --sink sinks, the --window most recent tokens whatever attention they got, and
// evicts from the rest the token that received the least attention so far; the cache hands out each
// held token's mass once, by token.
TEST(KvPolicy, H2OEvictsLeastAttendedOutsideTheWindow) {
  KvPolicyOptions opt{KvPolicyKind::H2O, 1, 2, 1, 0};
  opt.heavy = 2;
  KvEvictionPolicy policy(opt);
  EXPECT_EQ(policy.budget(), 5);
  KvCache cache(kShape, policy.budget());
  cache.track_key_mass(true);
  const float mass_at_arrival[] = {0, 10, 1, 5, 0.5f, 0.2f, 0, 0};
  for (std::int64_t t = 0; t < 8; ++t) {
    stream(policy, cache, {1});
    const auto tokens = policy.scored_tokens();
    std::vector<float> mass(tokens.size(), 0.f);
    for (std::size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] == t) mass[i] = mass_at_arrival[t];
    policy.observe_attention_mass(tokens, mass);
  }
  // t5 evicts 2 (mass 1 among 1, 2, 3), t6 evicts 4 (0.5), t7 evicts 5 (0.2); 6 and 7 are the window.
  EXPECT_EQ(live_positions(cache), (std::vector<std::int32_t>{0, 1, 3, 6, 7}));

  std::vector<float> per_slot(static_cast<std::size_t>(cache.local_size()), 0.f);
  std::size_t at = 0;
  for (const auto& blk : cache.blocks())
    for (std::int64_t tok : blk->tokens()) per_slot[at++] = static_cast<float>(tok) + 0.5f;
  cache.add_key_mass(per_slot);
  const std::vector<std::int64_t> ask = {1, 3, 4, 7};
  EXPECT_EQ(cache.take_key_mass(ask), (std::vector<float>{1.5f, 3.5f, 0.f, 7.5f}));  // 4 was evicted
  EXPECT_EQ(cache.take_key_mass(ask), std::vector<float>(4, 0.f));                  // handed out once
}

// Property: members sharing a sequence, each running the same policy, together hold exactly what one
// cache holds, and each holds only blocks dealt to it.
TEST(KvPolicy, MembersTogetherKeepWhatOneCacheKeeps) {
  for (KvPolicyKind kind : {KvPolicyKind::SinkWindow, KvPolicyKind::Random}) {
    const KvPolicyOptions opt{kind, 3, 7, 2, 11};
    const std::vector<std::int64_t> chunks = {5, 2, 1, 1, 7, 1, 1, 1, 3, 1, 1, 6, 1};
    KvEvictionPolicy one_policy(opt);
    KvCache one(kShape, one_policy.budget());
    stream(one_policy, one, chunks);
    std::vector<std::int32_t> together;
    for (int m = 0; m < 3; ++m) {
      KvEvictionPolicy p(opt);
      KvCache c(kShape, p.budget(), KvBlockOwner{m, 3});
      stream(p, c, chunks);
      for (const auto& blk : c.blocks()) EXPECT_TRUE((KvBlockOwner{m, 3}.owns(blk->index())));
      const auto mine = live_positions(c);
      together.insert(together.end(), mine.begin(), mine.end());
      EXPECT_EQ(c.sink_shift(), one.sink_shift());
    }
    std::sort(together.begin(), together.end());
    EXPECT_EQ(together, live_positions(one)) << kv_policy_name(kind);
  }
}

// Property: once the budget is reached, a long stream allocates nothing more (freed blocks are
// reused), and every kept token's K and V rows read back as stored, through compactions.
TEST(KvPolicy, ConstantMemoryAndRowsSurviveCompaction) {
  KvEvictionPolicy policy({KvPolicyKind::SinkWindow, 3, 9, 1, 0});
  KvCache cache(kShape, policy.budget());
  stream(policy, cache, std::vector<std::int64_t>(40, 1));
  const std::size_t peak_at_40 = cache.peak_bytes();
  stream(policy, cache, std::vector<std::int64_t>(400, 1));
  EXPECT_EQ(cache.peak_bytes(), peak_at_40);
  for (const auto& blk : cache.blocks()) {
    for (std::int64_t layer = 0; layer < 2; ++layer) {
      const auto* k = static_cast<const float*>(blk->keys(layer, 0).data);
      const auto* v = static_cast<const float*>(blk->values(layer, 0).data);
      for (std::int64_t s = 0; s < blk->size(); ++s) {
        const std::int32_t p = blk->positions()[static_cast<std::size_t>(s)];
        if (p == KvBlock::kEvicted) continue;
        EXPECT_EQ(k[2 * s], static_cast<float>(p));
        EXPECT_EQ(k[2 * s + 1], static_cast<float>(layer));
        EXPECT_EQ(v[2 * s], -static_cast<float>(p));
      }
    }
  }
  // Dead slots are reclaimed: at most one block's worth of evicted slots is still held.
  EXPECT_LE(cache.local_size() - cache.size(), kShape.block_size);
}

// Property: policies that keep scattered tokens (l2, random) hold memory for about their budget, not
// for budget x block_size tokens: compacted blocks shrink to their live rows.
TEST(KvPolicy, ScatteredKeepersStayNearTheirBudget) {
  KvEvictionPolicy policy({KvPolicyKind::Random, 0, 12, 1, 9});
  KvCache cache(kShape, policy.budget());
  stream(policy, cache, std::vector<std::int64_t>(2000, 1));
  const std::size_t row_bytes = 2 * 2 * 1 * 2 * sizeof(float);  // layers x (K, V) x heads x head_dim
  // A block is compacted once half its slots are dead, so 12 live rows take at most 24 slots; plus the
  // filling block and one emptied block kept for reuse, 4 slots each. Full-size blocks would allow
  // 12 x 4 = 48 slots and more.
  EXPECT_LE(cache.peak_bytes(), (2 * 12 + 2 * 4) * row_bytes);
  EXPECT_EQ(cache.size(), 12);
}

// Property: bad options and misuse are one-line errors: a window of 0, an evict chunk larger than the
// window, a chunk of tokens larger than the window, and rewinding after an eviction.
TEST(KvPolicy, BadOptionsAndMisuseAreErrors) {
  EXPECT_THROW(KvEvictionPolicy({KvPolicyKind::SinkWindow, 4, 0, 1, 0}), Error);
  EXPECT_THROW(KvEvictionPolicy({KvPolicyKind::SinkWindow, 4, 8, 9, 0}), Error);
  EXPECT_THROW(parse_kv_policy("h2o-ish"), Error);
  KvPolicyOptions heavy_elsewhere{KvPolicyKind::SinkWindow, 4, 8, 1, 0};
  heavy_elsewhere.heavy = 4;
  EXPECT_THROW(KvEvictionPolicy{heavy_elsewhere}, Error);  // --heavy means nothing to sink-window
  KvEvictionPolicy policy({KvPolicyKind::SinkWindow, 1, 4, 1, 0});
  KvCache cache(kShape, policy.budget());
  EXPECT_THROW(policy.make_room(cache, 5), Error);
  stream(policy, cache, {4, 1, 1});
  EXPECT_THROW(cache.truncate(3), Error);
  cache.truncate(0);
  policy.reset();
  EXPECT_EQ(cache.size(), 0);
  stream(policy, cache, {2});
  EXPECT_EQ(live_positions(cache), range(0, 2));
}

}  // namespace
}  // namespace qwen3
