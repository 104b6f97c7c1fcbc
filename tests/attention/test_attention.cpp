// Streaming attention against standard attention on random caches, and the merge of partial
// online-softmax states. Tolerance 1e-5 max-abs: both paths compute the same softmax in f32 and
// differ only in the order of exp-rescaling and summation (outputs are O(1) averages of values).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "attention/attention.hpp"
#include "attention_problem.hpp"
#include "qwen3/online_softmax.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

struct AttentionCase {
  std::int64_t n_heads = 8, n_kv = 2, d = 64;
  KvCache cache;
  std::vector<float> q;
  std::vector<std::int32_t> q_pos;

  AttentionCase(std::int64_t ctx_len, std::int64_t n_queries, KvType type, std::int64_t block = 64)
      : cache(KvCacheShape{1, 2, 64, block, type}, ctx_len) {
    std::vector<std::int32_t> pos(static_cast<std::size_t>(ctx_len));
    std::iota(pos.begin(), pos.end(), 0);
    const auto slots = cache.append(pos);
    const auto k = test::random_floats(static_cast<std::size_t>(ctx_len * n_kv * d), 11);
    const auto v = test::random_floats(static_cast<std::size_t>(ctx_len * n_kv * d), 12);
    cache.store(0, slots, k.data(), v.data());
    q = test::random_floats(static_cast<std::size_t>(n_queries * n_heads * d), 13);
    for (std::int64_t t = 0; t < n_queries; ++t) q_pos.push_back(static_cast<std::int32_t>(ctx_len - n_queries + t));
  }

  std::vector<float> run(const kernels::KernelTable& k, bool streaming, const StreamingOptions& opt = {}) {
    std::vector<float> out(q.size(), -1.f);
    const AttentionProblem p = test::attention_problem(k, n_heads, n_kv, d, q.data(), q_pos, cache, out.data());
    if (streaming) streaming_attention(p, opt);
    else standard_attention(p);
    return out;
  }
};

class StreamingVsStandard : public ::testing::TestWithParam<std::int64_t> {};

// Property: prefill (every position queries the cache causally) gives the same output on both paths,
// for lengths that are and are not multiples of the 64-token block, with every kernel variant.
TEST_P(StreamingVsStandard, PrefillWithin1e5) {
  const std::int64_t len = GetParam();
  for (const auto* k : test::host_kernel_tables()) {
    for (KvType type : {KvType::F32, KvType::BF16}) {
      AttentionCase s(len, len, type);
      const auto ref = s.run(*k, false);
      const auto got = s.run(*k, true);
      EXPECT_LE(test::max_abs_diff(ref.data(), got.data(), ref.size()), 1e-5f) << kernels::isa_name(k->isa);
    }
  }
}

// Property: one-token decode agrees for any split of the KV blocks across threads (split-KV + merge),
// including more splits than blocks.
TEST_P(StreamingVsStandard, DecodeSplitKvWithin1e5) {
  const std::int64_t len = GetParam();
  for (const auto* k : test::host_kernel_tables()) {
    AttentionCase s(len, 1, KvType::F32);
    const auto ref = s.run(*k, false);
    for (std::int64_t splits : {1, 2, 3, 7, 64}) {
      const auto got = s.run(*k, true, StreamingOptions{16, splits});
      EXPECT_LE(test::max_abs_diff(ref.data(), got.data(), ref.size()), 1e-5f) << "splits " << splits;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Lengths, StreamingVsStandard, ::testing::Values(1, 63, 64, 65, 1000));

// Property: the query tile size does not change the streaming result (ragged last tile included).
TEST(StreamingAttention, QueryTileInvariant) {
  AttentionCase s(200, 200, KvType::F32, 16);
  const auto ref = s.run(kernels::scalar_kernels(), true, StreamingOptions{1, 1});
  for (std::int64_t tile : {3, 16, 64, 200}) {
    const auto got = s.run(kernels::scalar_kernels(), true, StreamingOptions{tile, 0});
    EXPECT_LE(test::max_abs_diff(ref.data(), got.data(), ref.size()), 1e-5f) << "tile " << tile;
  }
}

// Property: masking follows stored global positions, not slot order. A cache holding positions
// {0, 1, 2, 10, 11} queried at position 5 attends to exactly the first three keys.
TEST(StandardAttention, MaskUsesGlobalPositions) {
  const std::int64_t d = 4;
  KvCache cache(KvCacheShape{1, 1, d, 2, KvType::F32}, 8);
  const std::vector<std::int32_t> pos = {0, 1, 2, 10, 11};
  const auto slots = cache.append(pos);
  std::vector<float> k(5 * d, 0.f), v(5 * d, 0.f);
  for (int t = 0; t < 5; ++t) v[static_cast<std::size_t>(t * d)] = static_cast<float>(t < 3 ? 1 : 100);
  cache.store(0, slots, k.data(), v.data());
  const std::vector<float> q(d, 0.f);  // zero query: uniform weights over the visible keys
  const std::vector<std::int32_t> qpos = {5};
  for (bool streaming : {false, true}) {
    std::vector<float> out(d);
    AttentionProblem p{&kernels::scalar_kernels(), 1, 1, d, 0.5f, q.data(), qpos, &cache, 0, out.data()};
    if (streaming) streaming_attention(p);
    else standard_attention(p);
    EXPECT_FLOAT_EQ(out[0], 1.f) << (streaming ? "streaming" : "standard");
  }
}

// Direct softmax-weighted sum over keys [0, n) of 1-d-dim scores/values, for the merge tests.
struct Partial {
  std::vector<float> packed;
};
Partial partial_over(const std::vector<float>& s, const std::vector<float>& v, std::int64_t d, std::size_t b, std::size_t e) {
  Partial p{std::vector<float>(static_cast<std::size_t>(OnlineSoftmaxState::packed_size(d)))};
  OnlineSoftmaxState st(p.packed.data(), d);
  st.reset();
  if (b == e) return p;
  st.m() = *std::max_element(s.begin() + static_cast<std::ptrdiff_t>(b), s.begin() + static_cast<std::ptrdiff_t>(e));
  for (std::size_t j = b; j < e; ++j) {
    const float w = std::exp(s[j] - st.m());
    st.l() += w;
    for (std::int64_t i = 0; i < d; ++i) st.o()[i] += w * v[j * static_cast<std::size_t>(d) + static_cast<std::size_t>(i)];
  }
  return p;
}

// Property: merge is order- and partition-independent: any split of the keys into parts, merged in
// any order (empty parts included), normalises to the softmax over all keys within 1e-5.
TEST(OnlineSoftmaxMerge, PartitionAndOrderInvariant) {
  const std::int64_t d = 8;
  const std::size_t n = 100;
  const auto s = test::random_floats(n, 21, 3.f);
  const auto v = test::random_floats(n * d, 22);
  std::vector<float> want(d);
  OnlineSoftmaxState(partial_over(s, v, d, 0, n).packed.data(), d).normalize_into(want.data());
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::size_t> cuts = {0, n};
    const int parts = 1 + trial % 9;
    for (int c = 1; c < parts; ++c) cuts.push_back(rng() % (n + 1));  // duplicates give empty parts
    std::sort(cuts.begin(), cuts.end());
    std::vector<Partial> ps;
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) ps.push_back(partial_over(s, v, d, cuts[c], cuts[c + 1]));
    std::shuffle(ps.begin(), ps.end(), rng);
    Partial acc = ps[0];
    for (std::size_t i = 1; i < ps.size(); ++i)
      merge(OnlineSoftmaxState(acc.packed.data(), d), OnlineSoftmaxState(ps[i].packed.data(), d));
    std::vector<float> got(d);
    OnlineSoftmaxState(acc.packed.data(), d).normalize_into(got.data());
    EXPECT_LE(test::max_abs_diff(got.data(), want.data(), d), 1e-5f) << "trial " << trial;
  }
}

// Property: the empty state (m = -inf, l = 0) is the identity on both sides of merge, and an empty
// state normalises to zeros instead of NaN (a row that saw no key).
TEST(OnlineSoftmaxMerge, EmptyStateIsIdentity) {
  const std::int64_t d = 3;
  std::vector<float> a(5), e(5), e2(5);
  OnlineSoftmaxState sa(a.data(), d), se(e.data(), d), se2(e2.data(), d);
  sa.reset();
  se.reset();
  se2.reset();
  sa.m() = 2.f;
  sa.l() = 3.f;
  sa.o()[0] = 6.f;
  const std::vector<float> before = a;
  merge(sa, se);
  EXPECT_EQ(a, before);
  merge(se, sa);
  EXPECT_EQ(e, before);
  merge(se, se2);
  EXPECT_EQ(e, before);
  std::vector<float> z(5);
  OnlineSoftmaxState sz(z.data(), d);
  sz.reset();
  std::vector<float> out(d, 9.f);
  sz.normalize_into(out.data());
  EXPECT_EQ(out, std::vector<float>(d, 0.f));
}

// Property: merge of rows equals merging each row (the batched form MPI and threads use).
TEST(OnlineSoftmaxMerge, MergeRowsMatchesPerRow) {
  const std::int64_t d = 4, rows = 3, stride = OnlineSoftmaxState::packed_size(d);
  auto a = test::random_floats(static_cast<std::size_t>(rows * stride), 31);
  const auto b = test::random_floats(static_cast<std::size_t>(rows * stride), 32);
  for (std::int64_t r = 0; r < rows; ++r) {  // l must be positive in a real state
    a[static_cast<std::size_t>(r * stride + 1)] = 1.5f;
  }
  auto b2 = b;
  for (std::int64_t r = 0; r < rows; ++r) b2[static_cast<std::size_t>(r * stride + 1)] = 0.5f;
  auto per_row = a;
  for (std::int64_t r = 0; r < rows; ++r)
    merge(OnlineSoftmaxState(per_row.data() + r * stride, d), OnlineSoftmaxState(b2.data() + r * stride, d));
  merge_rows(a, b2, d);
  EXPECT_EQ(a, per_row);
}

}  // namespace
}  // namespace qwen3
