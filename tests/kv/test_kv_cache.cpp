// The block-structured KV cache: slots, positions, element types and the capacity limit.
#include <gtest/gtest.h>

#include <numeric>

#include "kernels/convert.hpp"
#include "kv/kv_cache.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

// Property: tokens fill blocks of block_size in order, each block records its tokens' positions and
// their min/max, and stored rows read back per (layer, kv head) exactly (f32) or bf16-rounded.
TEST(KvCache, BlocksHoldPositionsAndRows) {
  for (KvType type : {KvType::F32, KvType::BF16, KvType::Q8}) {
    KvCache cache(KvCacheShape{2, 3, 4, 5, type}, 100);
    std::vector<std::int32_t> pos(12);
    std::iota(pos.begin(), pos.end(), 7);
    const auto slots = cache.append(pos);
    ASSERT_EQ(cache.blocks().size(), 3u);
    EXPECT_EQ(cache.blocks()[2]->size(), 2);
    EXPECT_EQ(cache.blocks()[1]->min_position(), 12);
    EXPECT_EQ(cache.blocks()[1]->max_position(), 16);
    EXPECT_EQ(slots[11].block, 2);
    EXPECT_EQ(slots[11].slot, 1);
    std::vector<float> k(12 * 3 * 4), v(k.size());
    for (std::size_t i = 0; i < k.size(); ++i) {
      k[i] = 0.5f * static_cast<float>(i);
      v[i] = -static_cast<float>(i);
    }
    cache.store(1, slots, k.data(), v.data());
    // Token 6 (block 1, slot 1), kv head 2, dim 3:
    const std::size_t src = (6 * 3 + 2) * 4 + 3;
    const std::size_t at = 1 * 4 + 3;
    const kernels::KvRows keys = cache.blocks()[1]->keys(1, 2), values = cache.blocks()[1]->values(1, 2);
    if (type == KvType::F32) {
      EXPECT_EQ(static_cast<const float*>(keys.data)[at], k[src]);
      EXPECT_EQ(static_cast<const float*>(values.data)[at], v[src]);
    } else if (type == KvType::BF16) {
      EXPECT_EQ(kernels::bf16_to_f32(static_cast<const std::uint16_t*>(keys.data)[at]), kernels::bf16_to_f32(kernels::f32_to_bf16(k[src])));
    } else {  // a row's int8 value times its scale: within half a step of the key, and the row's largest value exact to 1 ulp
      const float key = static_cast<const std::int8_t*>(keys.data)[at] * keys.scales[1];
      EXPECT_NEAR(key, k[src], keys.scales[1] * 0.5f);
      EXPECT_EQ(keys.scales[1], k[(6 * 3 + 2) * 4 + 3] / 127.f);  // the row's largest |k| is its last (k grows with i)
      EXPECT_EQ(static_cast<const std::int8_t*>(values.data)[at], -127);
    }
    EXPECT_EQ(cache.bytes(), 3u * 2 * 2 * 3 * 5 * kv_row_bytes(type, 4));
  }
}

// Property: appending past the capacity (-c) throws qwen3::Error and leaves the cache unchanged.
TEST(KvCache, CapacityIsEnforced) {
  KvCache cache(KvCacheShape{1, 1, 2, 4, KvType::F32}, 5);
  const std::vector<std::int32_t> four = {0, 1, 2, 3}, two = {4, 5};
  cache.append(four);
  EXPECT_THROW(cache.append(two), Error);
  EXPECT_EQ(cache.size(), 4);
  const std::vector<std::int32_t> one = {4};
  EXPECT_NO_THROW(cache.append(one));
  EXPECT_EQ(cache.size(), 5);
  EXPECT_GE(cache.peak_bytes(), cache.bytes());
}

// Property: truncate keeps exactly the first n tokens (positions and block bounds updated) and the
// cache accepts new tokens after it.
TEST(KvCache, TruncateKeepsPrefix) {
  KvCache cache(KvCacheShape{1, 1, 2, 4, KvType::F32}, 16);
  std::vector<std::int32_t> pos(10);
  std::iota(pos.begin(), pos.end(), 0);
  cache.append(pos);
  cache.truncate(6);
  EXPECT_EQ(cache.size(), 6);
  ASSERT_EQ(cache.blocks().size(), 2u);
  EXPECT_EQ(cache.blocks()[1]->size(), 2);
  EXPECT_EQ(cache.blocks()[1]->max_position(), 5);
  const std::vector<std::int32_t> next = {6, 7, 8};
  const auto slots = cache.append(next);
  EXPECT_EQ(slots[0].block, 1);
  EXPECT_EQ(slots[0].slot, 2);
  EXPECT_EQ(cache.size(), 9);
}

// Property: members sharing a sequence each hold the blocks dealt to them in snake order (0 1 1 0 ...
// for 2 members), every block exactly once; each counts the whole sequence (size) but holds only its
// tokens (local_size); slots of other members' blocks are {-1, -1} and storing skips them.
TEST(KvCache, MembersHoldTheirBlocksOnly) {
  const KvCacheShape shape{1, 1, 2, 4, KvType::F32};
  for (int members : {1, 2, 3}) {
    std::vector<int> holder(8, -1);
    std::int64_t held = 0;
    for (int m = 0; m < members; ++m) {
      KvCache cache(shape, 100, KvBlockOwner{m, members});
      std::vector<std::int32_t> pos(30);  // 7 full blocks and a partial one
      std::iota(pos.begin(), pos.end(), 0);
      const auto slots = cache.append(pos);
      std::vector<float> kv(30 * 2, 1.f);
      cache.store(0, slots, kv.data(), kv.data());
      EXPECT_EQ(cache.size(), 30);
      held += cache.local_size();
      for (const auto& blk : cache.blocks()) {
        EXPECT_EQ(holder[static_cast<std::size_t>(blk->index())], -1) << "block " << blk->index() << " held twice";
        holder[static_cast<std::size_t>(blk->index())] = m;
        EXPECT_EQ(blk->min_position(), blk->index() * 4);
      }
      const KvBlockOwner owner{m, members};
      for (std::size_t t = 0; t < slots.size(); ++t) {
        const bool mine = owner.owns(static_cast<std::int64_t>(t / 4));
        EXPECT_EQ(slots[t].block < 0, !mine) << "token " << t;
      }
    }
    EXPECT_EQ(held, 30);
    const std::vector<std::vector<int>> snake = {{0, 0, 0, 0, 0, 0, 0, 0}, {0, 1, 1, 0, 0, 1, 1, 0}, {0, 1, 2, 2, 1, 0, 0, 1}};
    EXPECT_EQ(holder, snake[static_cast<std::size_t>(members - 1)]);
  }
}

// Property: truncating a member's cache to a prefix of the sequence keeps exactly its blocks' tokens
// of that prefix, and appending afterwards continues the same dealing.
TEST(KvCache, MemberTruncateAndAppend) {
  const KvCacheShape shape{1, 1, 2, 4, KvType::F32};
  KvCache cache(shape, 100, KvBlockOwner{1, 2});  // holds blocks 1, 2, 5, 6, ...
  std::vector<std::int32_t> pos(20);
  std::iota(pos.begin(), pos.end(), 0);
  cache.append(pos);
  EXPECT_EQ(cache.local_size(), 8);  // blocks 1 and 2 (block 5 starts at token 20)
  cache.truncate(10);                // tokens 0..9: block 1 whole, block 2 half
  EXPECT_EQ(cache.size(), 10);
  EXPECT_EQ(cache.local_size(), 6);
  std::vector<std::int32_t> more(14);
  std::iota(more.begin(), more.end(), 10);
  const auto slots = cache.append(more);  // tokens 10..23: rest of block 2 (10, 11) and block 5 (20..23)
  EXPECT_EQ(cache.local_size(), 12);
  EXPECT_EQ(slots[0].block, 1);
  EXPECT_EQ(slots[0].slot, 2);
  EXPECT_EQ(slots[2].block, -1);  // token 12: block 3, member 0's
  EXPECT_EQ(cache.blocks().back()->index(), 5);
}

}  // namespace
}  // namespace qwen3
