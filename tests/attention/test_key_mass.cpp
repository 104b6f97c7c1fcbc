// The per-key attention probability that the h2o policy ranks tokens by (attention_key_mass), against
// softmax probabilities computed directly in double. Tolerance 1e-5 per key: the pass recomputes the
// f32 scores and divides by the row sums the attention paths produced.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "attention/attention.hpp"
#include "attention_problem.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

constexpr std::int64_t kHeads = 4, kKv = 2, kDim = 16;

// Per slot (blocks() order), the probability summed over every query row, straight from the definition.
std::vector<double> direct_mass(const KvCache& cache, const std::vector<float>& q, const std::vector<std::int32_t>& q_pos) {
  std::vector<const float*> keys;
  std::vector<std::int32_t> pos;
  std::vector<std::int64_t> head_offset;  // per slot: where its head-0 key row starts
  for (const auto& blk : cache.blocks())
    for (std::int64_t s = 0; s < blk->size(); ++s) {
      keys.push_back(static_cast<const float*>(blk->keys(0, 0).data) + s * kDim);
      head_offset.push_back(static_cast<const float*>(blk->keys(0, 1).data) - static_cast<const float*>(blk->keys(0, 0).data));
      pos.push_back(blk->positions()[static_cast<std::size_t>(s)]);
    }
  std::vector<double> mass(keys.size(), 0.0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(kDim));
  for (std::size_t t = 0; t < q_pos.size(); ++t)
    for (std::int64_t h = 0; h < kHeads; ++h) {
      const std::int64_t kvh = h / (kHeads / kKv);
      const float* qh = q.data() + (static_cast<std::int64_t>(t) * kHeads + h) * kDim;
      std::vector<double> s(keys.size(), -INFINITY);
      double mx = -INFINITY, sum = 0;
      for (std::size_t j = 0; j < keys.size(); ++j) {
        if (pos[j] > q_pos[t]) continue;
        const float* k = keys[j] + kvh * head_offset[j];
        double dot = 0;
        for (std::int64_t i = 0; i < kDim; ++i) dot += static_cast<double>(qh[i]) * k[i];
        s[j] = dot * scale;
        mx = std::max(mx, s[j]);
      }
      for (double& x : s) sum += x == -INFINITY ? 0 : std::exp(x - mx);
      for (std::size_t j = 0; j < keys.size(); ++j)
        if (s[j] != -INFINITY) mass[j] += std::exp(s[j] - mx) / sum;
    }
  return mass;
}

// Property: with the m and l either attention path reports, the key-mass pass gives every slot the
// probability the queries put on it (evicted slots and future keys get none), for prefill and decode,
// with every kernel variant; and each query row hands out exactly 1 in total.
TEST(AttentionKeyMass, MatchesSoftmaxProbabilities) {
  for (const auto* k : test::host_kernel_tables()) {
    for (std::int64_t n_queries : {1, 37}) {
      const std::int64_t len = 150;
      KvCache cache(KvCacheShape{1, kKv, kDim, 64, KvType::F32}, len);
      std::vector<std::int32_t> pos(static_cast<std::size_t>(len));
      std::iota(pos.begin(), pos.end(), 0);
      const auto slots = cache.append(pos);
      const auto kv = test::random_floats(static_cast<std::size_t>(len * kKv * kDim), 21);
      cache.store(0, slots, kv.data(), kv.data());
      for (std::int64_t t : {3, 64, 65, 100}) cache.evict(t);
      const auto q = test::random_floats(static_cast<std::size_t>(n_queries * kHeads * kDim), 22);
      std::vector<std::int32_t> q_pos;
      for (std::int64_t t = 0; t < n_queries; ++t) q_pos.push_back(static_cast<std::int32_t>(len - n_queries + t));
      const auto want = direct_mass(cache, q, q_pos);

      for (bool streaming : {false, true}) {
        std::vector<float> out(q.size()), stats(static_cast<std::size_t>(n_queries * kHeads * 2));
        AttentionProblem p = test::attention_problem(*k, kHeads, kKv, kDim, q.data(), q_pos, cache, out.data());
        p.row_stats = stats.data();
        if (streaming) streaming_attention(p);
        else standard_attention(p);
        std::vector<float> mass(static_cast<std::size_t>(cache.local_size()), 0.f);
        attention_key_mass(p, stats.data(), mass.data());
        ASSERT_EQ(mass.size(), want.size());
        double total = 0;
        for (std::size_t j = 0; j < mass.size(); ++j) {
          EXPECT_NEAR(mass[j], want[j], 1e-5) << kernels::isa_name(k->isa) << (streaming ? " streaming" : " standard") << " slot " << j;
          total += mass[j];
        }
        EXPECT_NEAR(total, static_cast<double>(n_queries * kHeads), 1e-3);
      }
    }
  }
}

}  // namespace
}  // namespace qwen3
