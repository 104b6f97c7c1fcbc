// Streaming (flash-style) attention. Work is cut into tasks of (KV heads, query tile, KV split):
//  - a query tile holds up to query_tile tokens x the GQA group's query heads, so every K/V block
//    loaded from the cache serves all of them;
//  - each task walks its KV blocks once, keeping an OnlineSoftmaxState per query row, so memory per
//    row is O(head_dim) whatever the context length;
//  - decode has one query token, so the blocks are split across threads instead (split-KV), and the
//    per-split states are joined with merge() -- the same function NUMA domains and MPI ranks use.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attention/attention.hpp"
#include "qwen3/online_softmax.hpp"
#include "qwen3/partition.hpp"

namespace qwen3 {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Tasks are (group of KV heads, query tile, KV split). A task walks its blocks in order and, inside each
// block, every head of its group: the block's K rows of consecutive heads are adjacent in memory (and so
// are the V rows), so one task streams long contiguous runs instead of one 16 KiB head slice per block.
// Decode at depth 4096 (Qwen3-0.6B, 2 threads) went from 30 to 22 ms of attention per token with this
// order (bench/decode, attn_ms/tok). Heads are only grouped more finely when tiles x splits alone
// leave threads idle (short prompts, short caches).
struct TaskGrid {
  std::int64_t n_head_groups, n_tiles, n_splits, n_blocks, query_tile;
  std::int64_t count() const { return n_head_groups * n_tiles * n_splits; }
};

TaskGrid plan(const AttentionProblem& p, const StreamingOptions& opt) {
  TaskGrid g{};
  g.query_tile = std::max<std::int64_t>(1, opt.query_tile);
  g.n_tiles = (p.n_tokens() + g.query_tile - 1) / g.query_tile;
  g.n_blocks = static_cast<std::int64_t>(p.cache->blocks().size());
  const std::int64_t max_splits = std::max<std::int64_t>(1, g.n_blocks);
  // Aim for about 4 tasks per thread so dynamic scheduling can balance uneven causal work.
  const std::int64_t target = 4 * omp_get_max_threads();
  auto ceil_div = [](std::int64_t a, std::int64_t b) { return (a + b - 1) / b; };
  g.n_splits = std::clamp<std::int64_t>(opt.kv_splits > 0 ? opt.kv_splits : ceil_div(target, g.n_tiles), 1, max_splits);
  g.n_head_groups = std::clamp<std::int64_t>(ceil_div(target, g.n_tiles * g.n_splits), 1, p.n_kv_heads);
  return g;
}

// Largest of n scores, written so the compiler vectorises it (std::max_element keeps an index and
// does not); this runs once per row per block.
float max_score(const float* s, std::int64_t n) {
  float m = kNegInf;
  for (std::int64_t j = 0; j < n; ++j) m = s[j] > m ? s[j] : m;
  return m;
}

// Folds one KV block into the states of `rows` query rows. scores: [rows][n] scratch; alpha: [rows].
void fold_block(const AttentionProblem& p, const KvBlock& blk, std::int64_t kvh, const float* q_tile,
                std::int64_t rows, std::int64_t g, const std::int32_t* qpos, float* scores, float* alpha,
                float* states) {
  const std::int64_t d = p.head_dim;
  const std::int64_t n = blk.size();
  const std::int64_t stride = OnlineSoftmaxState::packed_size(d);
  // While the keys are read, this head's values are requested. Decode at depth 4096, one layer of
  // Qwen3-0.6B, 2 threads (bench/attention): AVX2 1.17 -> 0.78 ms, AVX-512 0.81 -> 0.72 ms. Also
  // requesting the next head's keys while the values are read made it slower (0.89 ms on AVX2): the
  // keys are one sequential run the hardware prefetcher follows by itself, and the software requests
  // only took line-fill buffers from the value loads.
  p.kernels->attention_scores(q_tile, rows, blk.keys(p.layer, kvh), n, d, p.scale, scores, blk.values(p.layer, kvh).data);
  const auto pos = blk.positions();
  for (std::int64_t r = 0; r < rows; ++r) {
    float* s = scores + r * n;
    const std::int32_t qp = qpos[r / g];
    if (blk.max_position() > qp) {  // only blocks that straddle the diagonal need a mask
      for (std::int64_t j = 0; j < n; ++j)
        if (pos[static_cast<std::size_t>(j)] > qp) s[j] = kNegInf;
    }
    OnlineSoftmaxState st(states + r * stride, d);
    const float block_max = max_score(s, n);
    if (block_max == kNegInf) {  // no visible key here: zero weights, state unchanged
      std::fill(s, s + n, 0.f);
      alpha[r] = 1.f;
      continue;
    }
    const float m_new = std::max(st.m(), block_max);
    // What was accumulated under the old max is rescaled by exp(m_old - m_new) (0 when empty); the
    // accumulate kernel applies it to o while o is in registers.
    alpha[r] = st.empty() ? 0.f : std::exp(st.m() - m_new);
    const float sum = p.kernels->exp_shifted_sum(s, n, m_new);  // masked (-inf) scores become 0
    st.m() = m_new;
    st.l() = st.l() * alpha[r] + sum;
  }
  // o = alpha o + P V for all rows at once: the value block is read once for the whole tile.
  p.kernels->attention_accumulate(scores, rows, blk.values(p.layer, kvh), n, d, alpha, states + 2, stride, nullptr);
}

}  // namespace

void streaming_attention(const AttentionProblem& p, const StreamingOptions& opt) {
  const TaskGrid grid = plan(p, opt);
  const std::int64_t d = p.head_dim;
  const std::int64_t g = p.group_size();
  const std::int64_t stride = OnlineSoftmaxState::packed_size(d);
  const std::int64_t n_rows = p.n_tokens() * p.n_heads;  // one state row per (token, query head)
  const auto blocks = p.cache->blocks();
  std::vector<float> partial(static_cast<std::size_t>(grid.n_splits * n_rows * stride));

#pragma omp parallel
  {
    const std::int64_t max_heads = split_even(p.n_kv_heads, 0, static_cast<int>(grid.n_head_groups)).size();  // part 0 is largest
    const std::int64_t max_rows = grid.query_tile * g;  // per KV head
    std::vector<float> q_tile(static_cast<std::size_t>(max_heads * max_rows * d));
    std::vector<float> states(static_cast<std::size_t>(max_heads * max_rows * stride));
    std::vector<float> scores(static_cast<std::size_t>(max_rows * p.cache->shape().block_size));
    std::vector<float> alpha(static_cast<std::size_t>(max_rows));

#pragma omp for schedule(dynamic)
    for (std::int64_t task = 0; task < grid.count(); ++task) {
      const std::int64_t split = task % grid.n_splits;
      const std::int64_t tile = (task / grid.n_splits) % grid.n_tiles;
      const std::int64_t group = task / (grid.n_splits * grid.n_tiles);
      // The same contiguous split that deals heads and blocks to ranks and NUMA domains (split_even).
      const Range heads = split_even(p.n_kv_heads, static_cast<int>(group), static_cast<int>(grid.n_head_groups));
      const std::int64_t h0 = heads.begin, h1 = heads.end;
      const std::int64_t t0 = tile * grid.query_tile;
      const std::int64_t nt = std::min(grid.query_tile, p.n_tokens() - t0);
      const std::int64_t rows = nt * g;
      const std::int32_t* qpos = p.positions.data() + t0;
      const std::int32_t max_qpos = *std::max_element(qpos, qpos + nt);
      // Row r of KV head kvh = (token t0 + r/g, query head kvh*g + r%g); each head's rows are contiguous.
      auto global_row = [&](std::int64_t kvh, std::int64_t r) { return (t0 + r / g) * p.n_heads + kvh * g + r % g; };
      auto q_rows = [&](std::int64_t kvh) { return q_tile.data() + (kvh - h0) * rows * d; };
      auto state_rows = [&](std::int64_t kvh) { return states.data() + (kvh - h0) * rows * stride; };

      for (std::int64_t kvh = h0; kvh < h1; ++kvh) {
        for (std::int64_t r = 0; r < rows; ++r) {
          const float* src = p.q + global_row(kvh, r) * d;
          std::copy(src, src + d, q_rows(kvh) + r * d);
          OnlineSoftmaxState(state_rows(kvh) + r * stride, d).reset();
        }
      }
      const Range span = split_even(grid.n_blocks, static_cast<int>(split), static_cast<int>(grid.n_splits));
      for (std::int64_t b = span.begin; b < span.end; ++b) {
        const KvBlock& blk = *blocks[static_cast<std::size_t>(b)];
        if (blk.size() == 0 || blk.min_position() > max_qpos) continue;  // wholly in the future
        for (std::int64_t kvh = h0; kvh < h1; ++kvh)
          fold_block(p, blk, kvh, q_rows(kvh), rows, g, qpos, scores.data(), alpha.data(), state_rows(kvh));
      }
      for (std::int64_t kvh = h0; kvh < h1; ++kvh)
        for (std::int64_t r = 0; r < rows; ++r)
          std::copy(state_rows(kvh) + r * stride, state_rows(kvh) + (r + 1) * stride,
                    partial.data() + (split * n_rows + global_row(kvh, r)) * stride);
    }

    // Join the splits of each row in split order, then normalise (out = o / l) or hand the state on.
#pragma omp for schedule(static)
    for (std::int64_t row = 0; row < n_rows; ++row) {
      OnlineSoftmaxState acc(partial.data() + row * stride, d);
      for (std::int64_t s = 1; s < grid.n_splits; ++s)
        merge(acc, OnlineSoftmaxState(partial.data() + (s * n_rows + row) * stride, d));
      if (p.states) {
        std::copy(&acc.m(), &acc.m() + stride, p.state_row(row / p.n_heads, row % p.n_heads));
      } else {
        acc.normalize_into(p.out + row * d);
        if (p.row_stats) {
          float* ml = p.row_stats + p.head_major_row(row / p.n_heads, row % p.n_heads) * 2;
          ml[0] = acc.m();
          ml[1] = acc.l();
        }
      }
    }
  }
}

}  // namespace qwen3
