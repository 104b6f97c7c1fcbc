// Standard attention: for each (query token, KV head) the whole score row over the visible cache is
// materialised, soft-maxed and used to weight the values. Memory per row grows with the context,
// which is what the streaming path avoids; this path is the plain-math reference.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "attention/attention.hpp"
#include "qwen3/error.hpp"
#include "qwen3/online_softmax.hpp"

namespace qwen3 {

AttentionKind parse_attention_kind(std::string_view name) {
  if (name == "standard") return AttentionKind::Standard;
  if (name == "streaming") return AttentionKind::Streaming;
  throw Error("--attention " + std::string(name) + ": expected standard or streaming");
}

std::string_view attention_kind_name(AttentionKind kind) {
  return kind == AttentionKind::Standard ? "standard" : "streaming";
}

void standard_attention(const AttentionProblem& p) {
  const auto& k = *p.kernels;
  const auto blocks = p.cache->blocks();
  const std::int64_t g = p.group_size();
  const std::int64_t d = p.head_dim;
  const std::int64_t n_ctx = p.cache->local_size();
  const std::int64_t n_tasks = p.n_tokens() * p.n_kv_heads;
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();

#pragma omp parallel
  {
    std::vector<float> scores(static_cast<std::size_t>(g * n_ctx));
    std::vector<float> tmp;
#pragma omp for schedule(dynamic)
    for (std::int64_t task = 0; task < n_tasks; ++task) {
      const std::int64_t t = task / p.n_kv_heads;
      const std::int64_t kvh = task % p.n_kv_heads;
      const std::int32_t qpos = p.positions[static_cast<std::size_t>(t)];
      const std::int64_t row0 = t * p.n_heads + kvh * g;  // the g query heads of this KV head
      const float* q = p.q + row0 * d;

      // Scores of every cached key, masked where the key is in the query's future.
      // Each kernel requests the lines of the next block's keys (values) while it reads this one's: decode
      // at depth 4096 (bench/attention, 2 threads) AVX2 1.49 -> 1.11 ms per layer, AVX-512 1.18 -> 0.97.
      auto next_block = [&](std::size_t b) { return b + 1 < blocks.size() ? blocks[b + 1].get() : nullptr; };
      std::int64_t col = 0;
      for (std::size_t b = 0; b < blocks.size(); ++b) {
        const KvBlock* blk = blocks[b].get();
        const std::int64_t n = blk->size();
        tmp.resize(static_cast<std::size_t>(g * n));
        const KvBlock* next = next_block(b);
        k.attention_scores(q, g, blk->keys(p.layer, kvh), n, d, p.scale, tmp.data(), next ? next->keys(p.layer, kvh).data : nullptr);
        const auto pos = blk->positions();
        for (std::int64_t i = 0; i < g; ++i)
          for (std::int64_t j = 0; j < n; ++j)
            scores[i * n_ctx + col + j] = pos[static_cast<std::size_t>(j)] <= qpos ? tmp[i * n + j] : neg_inf;
        col += n;
      }
      // Softmax of each row (max subtracted for range), then out = sum_j p_j v_j. For a partial state,
      // the weights stay unnormalised: m = the row max, l = the sum, o = sum_j exp(s_j - m) v_j.
      for (std::int64_t i = 0; i < g; ++i) {
        float* row = scores.data() + i * n_ctx;
        const float mx = n_ctx ? *std::max_element(row, row + n_ctx) : neg_inf;
        float* out = p.states ? p.state_row(t, kvh * g + i) + 2 : p.out + (row0 + i) * d;
        std::fill(out, out + d, 0.f);
        if (mx == neg_inf) {  // no visible key here (only with states: a query always sees itself)
          if (p.states) OnlineSoftmaxState(out - 2, d).reset();
          continue;
        }
        const float sum = k.exp_shifted_sum(row, n_ctx, mx);  // masked (-inf) scores become 0
        if (p.row_stats) {
          float* ml = p.row_stats + p.head_major_row(t, kvh * g + i) * 2;
          ml[0] = mx;
          ml[1] = sum;
        }
        if (p.states) {
          out[-2] = mx;
          out[-1] = sum;
        } else {
          for (std::int64_t j = 0; j < n_ctx; ++j) row[j] /= sum;
        }
        col = 0;
        for (std::size_t b = 0; b < blocks.size(); ++b) {
          const KvBlock* next = next_block(b);
          k.attention_accumulate(row + col, 1, blocks[b]->values(p.layer, kvh), blocks[b]->size(), d, nullptr, out, d,
                                 next ? next->values(p.layer, kvh).data : nullptr);
          col += blocks[b]->size();
        }
      }
    }
  }
}

}  // namespace qwen3
