// Per-key attention probability for the h2o eviction policy. Work is split by KV block, so each thread
// owns its blocks' entries of `mass` and no two threads add to the same one.
#include <limits>
#include <vector>

#include "attention/attention.hpp"

namespace qwen3 {

void attention_key_mass(const AttentionProblem& p, const float* row_stats, float* mass) {
  const auto blocks = p.cache->blocks();
  const std::int64_t g = p.group_size();
  const std::int64_t d = p.head_dim;
  const std::int64_t n_tokens = p.n_tokens();
  std::vector<std::int64_t> first_slot(blocks.size() + 1, 0);
  for (std::size_t b = 0; b < blocks.size(); ++b) first_slot[b + 1] = first_slot[b] + blocks[b]->size();

#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic)
    for (std::int64_t b = 0; b < static_cast<std::int64_t>(blocks.size()); ++b) {
      const KvBlock& blk = *blocks[static_cast<std::size_t>(b)];
      const std::int64_t n = blk.size();
      const auto pos = blk.positions();
      float* m_out = mass + first_slot[static_cast<std::size_t>(b)];
      if (n == 0) continue;
      scores.resize(static_cast<std::size_t>(g * n));
      for (std::int64_t t = 0; t < n_tokens; ++t) {
        const std::int32_t qpos = p.positions[static_cast<std::size_t>(t)];
        if (blk.min_position() > qpos) continue;  // wholly in this query's future
        for (std::int64_t kvh = 0; kvh < p.n_kv_heads; ++kvh) {
          // The g query heads of this KV head are adjacent in q: one scores call serves them all.
          p.kernels->attention_scores(p.q + (t * p.n_heads + kvh * g) * d, g, blk.keys(p.layer, kvh), n, d, p.scale,
                                      scores.data(), nullptr);
          for (std::int64_t i = 0; i < g; ++i) {
            const float* ml = row_stats + p.head_major_row(t, kvh * g + i) * 2;
            float* s = scores.data() + i * n;
            for (std::int64_t j = 0; j < n; ++j)
              if (pos[static_cast<std::size_t>(j)] > qpos) s[j] = -std::numeric_limits<float>::infinity();
            p.kernels->exp_shifted_sum(s, n, ml[0]);  // exp(s - m) in place; masked keys become 0
            const float inv_l = 1.f / ml[1];
            for (std::int64_t j = 0; j < n; ++j) m_out[j] += s[j] * inv_l;
          }
        }
      }
    }
  }
}

}  // namespace qwen3
