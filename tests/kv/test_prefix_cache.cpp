// Prefix sharing (kv/prefix_cache.hpp and KvCache::share_prefix): a cached block is found only by the
// exact tokens before and in it, a shared block is never changed under the sequences that read it,
// and only idle blocks at the end of a chain are given up.
#include <gtest/gtest.h>

#include <numeric>

#include "kv/kv_cache.hpp"
#include "kv/prefix_cache.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

using Ids = std::vector<std::int32_t>;
const KvCacheShape kShape{1, 1, 2, 4, KvType::F32};  // one layer, one KV head, head_dim 2, blocks of 4

Ids iota_ids(std::int32_t n, std::int32_t from = 0) {
  Ids ids(static_cast<std::size_t>(n));
  std::iota(ids.begin(), ids.end(), from);
  return ids;
}

// A cache holding `n` tokens at positions 0..n-1, every K/V value its token index.
KvCache filled_cache(std::int32_t n, KvBlockOwner owner = {}) {
  KvCache cache(kShape, 64, owner);
  const Ids pos = iota_ids(n);
  const auto slots = cache.append(pos);
  std::vector<float> kv(static_cast<std::size_t>(2 * n));
  for (std::size_t i = 0; i < kv.size(); ++i) kv[i] = static_cast<float>(i / 2);
  cache.store(0, slots, kv.data(), kv.data());
  return cache;
}

// Offers every full block of `cache` (holding `tokens`), as the batch engine does.
std::vector<std::uint64_t> offer_all(PrefixCache& pc, const KvCache& cache, const Ids& tokens) {
  std::vector<std::uint64_t> keys;
  for (std::int64_t b = 0; (b + 1) * 4 <= static_cast<std::int64_t>(tokens.size()); ++b)
    keys.push_back(pc.offer(keys.empty() ? 0 : keys.back(), b, tokens, cache.full_block(b)).key);
  return keys;
}

// Property: the longest cached prefix is found in whole blocks, never past a differing token or the
// cap, and its blocks are the very ones offered.
TEST(PrefixCache, FindsTheLongestPrefixInWholeBlocks) {
  PrefixCache pc(4);
  const Ids a = iota_ids(10);
  KvCache cache = filled_cache(10);
  offer_all(pc, cache, a);
  EXPECT_EQ(pc.blocks(), 2);
  Ids b = iota_ids(12);
  auto m = pc.acquire(b, 10);
  EXPECT_EQ(m.tokens(), 8);
  ASSERT_EQ(m.held.size(), 2u);
  EXPECT_EQ(m.held[1].get(), cache.blocks()[1].get());
  pc.release(m.keys);
  b[5] = 99;  // differs inside block 1
  m = pc.acquire(b, 10);
  EXPECT_EQ(m.tokens(), 4);
  pc.release(m.keys);
  EXPECT_EQ(pc.acquire(b, 0).tokens(), 0);  // the cap: nothing
  EXPECT_EQ(pc.acquire(iota_ids(8, 1), 2).tokens(), 0);  // same tokens one place later: another prefix
}

// Property: a block in use, or one another entry extends, is never dropped; idle chains go from their
// end, least recently used first.
TEST(PrefixCache, DropsOnlyIdleBlocksAtTheEndOfAChain) {
  PrefixCache pc(4);
  const Ids a = iota_ids(8), b = iota_ids(8, 100);
  KvCache ca = filled_cache(8), cb = filled_cache(8);
  const auto ka = offer_all(pc, ca, a);
  const auto kb = offer_all(pc, cb, b);
  EXPECT_EQ(pc.idle_blocks(), 0);
  EXPECT_FALSE(pc.drop_idle());
  pc.release(kb);
  pc.release(ka);
  EXPECT_EQ(pc.idle_blocks(), 4);
  const auto a_again = pc.acquire(a, 2);  // a was used last
  pc.release(a_again.keys);
  ASSERT_TRUE(pc.drop_idle());              // b's second block
  const auto b_head = pc.acquire(b, 2);     // b's first block, in use from now on
  EXPECT_EQ(b_head.tokens(), 4);
  ASSERT_TRUE(pc.drop_idle());              // a's second block: b's first is in use, a's first extended
  const auto a_head = pc.acquire(a, 2);
  EXPECT_EQ(a_head.tokens(), 4);
  EXPECT_FALSE(pc.drop_idle());             // both heads in use
  EXPECT_EQ(pc.blocks(), 2);
  pc.release(a_head.keys);
  EXPECT_TRUE(pc.drop_idle());
  EXPECT_EQ(pc.acquire(a, 2).tokens(), 0);
}

// Property: an offer of tokens already cached makes no second entry and leaves the first in use by
// the offerer too.
TEST(PrefixCache, OfferingCachedTokensAddsNothing) {
  PrefixCache pc(4);
  const Ids a = iota_ids(4);
  KvCache c1 = filled_cache(4), c2 = filled_cache(4);
  const auto first = pc.offer(0, 0, a, c1.full_block(0));
  const auto again = pc.offer(0, 0, a, c2.full_block(0));
  EXPECT_TRUE(first.added && first.cached);
  EXPECT_FALSE(again.added);
  EXPECT_TRUE(again.cached);
  EXPECT_EQ(first.key, again.key);
  pc.release(std::vector<std::uint64_t>{first.key});
  EXPECT_EQ(pc.idle_blocks(), 0);  // still held by the second offer
  pc.release(std::vector<std::uint64_t>{again.key});
  EXPECT_EQ(pc.idle_blocks(), 1);
  EXPECT_THROW(pc.release(std::vector<std::uint64_t>{again.key}), Error);
}

// Property: a cache started from a shared prefix reads the same rows, appends after it, and a change
// to a shared block (truncate into it, evict from it) lands in its own copy: the owner's block is
// untouched.
TEST(KvCacheSharing, SharedBlocksAreCopiedBeforeAnyChange) {
  KvCache owner = filled_cache(8);
  KvCache reader(kShape, 64);
  reader.share_prefix(8, owner.blocks());
  EXPECT_EQ(reader.size(), 8);
  EXPECT_EQ(reader.blocks()[1].get(), owner.blocks()[1].get());
  const Ids next = {8};
  const auto slot = reader.append(next);
  EXPECT_EQ(slot[0].block, 2);
  reader.truncate(6);
  EXPECT_NE(reader.blocks()[1].get(), owner.blocks()[1].get());
  EXPECT_EQ(reader.blocks()[1]->size(), 2);
  EXPECT_EQ(owner.blocks()[1]->size(), 4);
  EXPECT_EQ(static_cast<const float*>(reader.blocks()[1]->keys(0, 0).data)[3], 5.f);  // token 5's row came along
  reader.evict(0);
  EXPECT_EQ(owner.blocks()[0]->live(), 4);
  EXPECT_EQ(reader.blocks()[0]->live(), 3);
}

// Property: share_prefix takes only whole blocks, into an empty cache, and under sequence
// parallelism exactly the blocks this member owns.
TEST(KvCacheSharing, ShareTakesWholeOwnedBlocksOnly) {
  KvCache owner = filled_cache(8);
  KvCache busy = filled_cache(1);
  EXPECT_THROW(busy.share_prefix(8, owner.blocks()), Error);
  KvCache reader(kShape, 64);
  EXPECT_THROW(reader.share_prefix(6, owner.blocks()), Error);
  const KvBlockOwner second{1, 2};  // owns blocks 1, 2, 5, 6, ...
  KvCache member = filled_cache(12, second);
  ASSERT_EQ(member.blocks().size(), 2u);
  EXPECT_EQ(member.full_block(0), nullptr);
  KvCache member_reader(kShape, 64, second);
  member_reader.share_prefix(12, member.blocks());
  EXPECT_EQ(member_reader.size(), 12);
  KvCache wrong_member(kShape, 64, KvBlockOwner{0, 2});
  EXPECT_THROW(wrong_member.share_prefix(12, member.blocks()), Error);
}

}  // namespace
}  // namespace qwen3
