#include "model/ops.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/convert.hpp"
#include "kernels/q8.hpp"
#include "qwen3/online_softmax.hpp"


namespace qwen3::ops {

std::pair<std::int64_t, std::int64_t> thread_range(std::int64_t n, int tid, int n_threads, std::int64_t align) {
  const std::int64_t units = (n + align - 1) / align;
  const std::int64_t u0 = units * tid / n_threads;
  const std::int64_t u1 = units * (tid + 1) / n_threads;
  return {std::min(n, u0 * align), std::min(n, u1 * align)};
}

namespace {

// From 32 tokens on, a blocked gemm (oneDNN) beats our f32 row tiles; below, it is not worth it. The
// bf16 row kernel keeps up with oneDNN's bf16 gemm up to 64 tokens (bench/batch_decode on 2 Zen 4
// cores: 162 against 114 decode tokens/s at 32 sequences, 163 against 167 at 64).
std::int64_t gemm_min_tokens(const kernels::KernelTable& k, const kernels::MatrixView& w) {
  return k.matmul_bf16 && w.dtype == DType::BF16 ? 64 : 32;
}

// Q8 weights with int8 decode rows (W8A8, --decode-rows int8): the activations quantized to int8 once
// per call (each token's blocks by one thread), then the W8A8 row kernel over the team's share of the
// rows. (Without it, Q8 products go to KernelTable::matmul, which quantizes them to int16 itself.)
void q8_row_kernel(const kernels::KernelTable& k, const kernels::MatrixView& w, const float* x, std::int64_t n_tokens, float* y) {
  const std::int64_t blocks = w.cols / kernels::kQ8Block;
  thread_local std::vector<std::int8_t> x_q;
  thread_local std::vector<float> x_scales;
  x_q.resize(static_cast<std::size_t>(n_tokens * w.cols));
  x_scales.resize(static_cast<std::size_t>(n_tokens * blocks));
  const kernels::Q8Activations xq{x_q.data(), x_scales.data(), n_tokens};
  std::int8_t* q = x_q.data();
  float* scales = x_scales.data();
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < n_tokens * blocks; ++i)
      kernels::quantize_q8_activations(x + i * kernels::kQ8Block, kernels::kQ8Block, q + i * kernels::kQ8Block, scales + i);
    const auto [r0, r1] = thread_range(w.rows, omp_get_thread_num(), omp_get_num_threads(), 16);
    if (r0 < r1) k.matmul_q8(w, xq, y, w.rows, r0, r1);
  }
}

// The row kernel over n_tokens rows, its output rows split over the team. bf16 weights go to the
// bf16 row kernel where the table has one, on the activations rounded to bf16 once per call.
void row_kernel(const kernels::KernelTable& k, const kernels::MatrixView& w, const float* x, std::int64_t n_tokens, float* y) {
  if (w.dtype == DType::Q8 && k.matmul_q8) return q8_row_kernel(k, w, x, n_tokens, y);
  const bool bf16_rows = k.matmul_bf16 && w.dtype == DType::BF16;
  // Rows start 64-byte aligned (for the usual even column counts): the kernel's 512-bit loads then
  // never straddle two cache lines (straddling ones cost a quarter of the kernel's speed at 16 tokens,
  // bench/matmul --tokens 16).
  thread_local std::vector<std::uint16_t> x_bf16;
  std::uint16_t* xb = nullptr;
  if (bf16_rows) {
    x_bf16.resize(static_cast<std::size_t>(n_tokens * w.cols + 32));
    const auto misaligned = reinterpret_cast<std::uintptr_t>(x_bf16.data()) % 64;
    xb = x_bf16.data() + (misaligned ? (64 - misaligned) / 2 : 0);
  }
#pragma omp parallel
  {
    if (bf16_rows) {
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < n_tokens * w.cols; ++i) xb[i] = kernels::f32_to_bf16(x[i]);
    }
    // 16-row alignment keeps each thread's rows in whole 4-row kernel tiles and apart cache lines.
    const auto [r0, r1] = thread_range(w.rows, omp_get_thread_num(), omp_get_num_threads(), 16);
    if (r0 < r1 && bf16_rows) k.matmul_bf16(w, xb, w.cols, n_tokens, y, w.rows, r0, r1);
    else if (r0 < r1) k.matmul(w, x, w.cols, n_tokens, y, w.rows, r0, r1);
  }
}

}  // namespace

void linear(const kernels::KernelTable& k, const kernels::MatrixView& w, const float* x, std::int64_t n_tokens, float* y) {
  if (w.rows == 0) return;  // a rank with no share of these outputs (more ranks than heads)
  if (w.cols == 0) {  // a rank whose share of the inputs is empty (more ranks than heads) adds nothing
    std::fill(y, y + n_tokens * w.rows, 0.f);
    return;
  }
  if (k.gemm && n_tokens >= gemm_min_tokens(k, w) && k.gemm(k, w, x, n_tokens, y)) return;
  row_kernel(k, w, x, n_tokens, y);
}

void linear_per_sequence(const kernels::KernelTable& k, const kernels::MatrixView& w, const float* x, std::span<const RowSpan> sequences,
                         float* y) {
  if (w.rows == 0 || w.cols == 0 || sequences.size() == 1) {
    const std::int64_t n = sequences.empty() ? 0 : sequences.back().first + sequences.back().count;
    return linear(k, w, x, n, y);
  }
  // Runs of consecutive small sequences share one row-kernel call; each large one is its own linear().
  std::int64_t run_first = 0, run_count = 0;
  const auto flush = [&] {
    if (run_count > 0) row_kernel(k, w, x + run_first * w.cols, run_count, y + run_first * w.rows);
    run_count = 0;
  };
  for (const RowSpan& s : sequences) {
    if (s.count >= gemm_min_tokens(k, w) && k.gemm) {
      flush();
      linear(k, w, x + s.first * w.cols, s.count, y + s.first * w.rows);
      continue;
    }
    if (run_count == 0) run_first = s.first;
    run_count += s.count;
  }
  flush();
}

void rmsnorm(const float* x, const std::vector<float>& weight, std::int64_t n_rows, std::int64_t dim, float eps, float* out) {
#pragma omp parallel for schedule(static) if (n_rows > 16)
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    // Mean of squares in double: the f32 result then matches torch's f32 reduction to ~1 ulp.
    double ss = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(dim)) + eps);
    for (std::int64_t i = 0; i < dim; ++i) o[i] = weight[static_cast<std::size_t>(i)] * (xr[i] * inv);
  }
}

void embed(const kernels::KernelTable& k, const kernels::MatrixView& table, std::span<const std::int32_t> ids, float* out,
           bool as_q8) {
  std::vector<std::int8_t> q(static_cast<std::size_t>(as_q8 ? table.cols : 0));
  std::vector<std::uint16_t> scales(static_cast<std::size_t>(as_q8 ? table.cols / kernels::kQ8Block : 0));
  for (std::size_t t = 0; t < ids.size(); ++t) {
    float* row = out + static_cast<std::int64_t>(t) * table.cols;
    k.widen_rows(table, ids[t], 1, row);
    if (!as_q8) continue;
    kernels::quantize_q8_weights(row, table.cols, q.data(), scales.data());
    kernels::dequantize_q8(q.data(), scales.data(), table.cols, row);
  }
}

RotaryTable rotary_table(std::span<const std::int32_t> positions, const RopeFrequencies& freqs, bool with_attention_factor) {
  RotaryTable rt;
  rt.half_dim = static_cast<std::int64_t>(freqs.inv_freq.size());
  rt.cos.resize(positions.size() * static_cast<std::size_t>(rt.half_dim));
  rt.sin.resize(rt.cos.size());
  const float factor = with_attention_factor ? freqs.attention_factor : 1.f;
  for (std::int64_t i = 0; i < rt.half_dim; ++i) {
    // inv_freq rounded to f32 as transformers has it; the angle pos * inv_freq in double: transformers
    // rounds it to f32, which at position 100,000 is off by up to 4e-3 rad (half an f32 ulp of the
    // angle), and a StreamingLLM stream runs that far. Below ~10,000 the two agree to 5e-4 rad.
    // YaRN's attention factor multiplies the f32 cos and sin, as transformers does.
    const float inv_freq = freqs.inv_freq[static_cast<std::size_t>(i)];
    for (std::size_t t = 0; t < positions.size(); ++t) {
      const double angle = static_cast<double>(positions[t]) * static_cast<double>(inv_freq);
      const std::size_t at = t * static_cast<std::size_t>(rt.half_dim) + static_cast<std::size_t>(i);
      rt.cos[at] = static_cast<float>(std::cos(angle));
      rt.sin[at] = static_cast<float>(std::sin(angle));
      if (factor != 1.f) {
        rt.cos[at] *= factor;
        rt.sin[at] *= factor;
      }
    }
  }
  return rt;
}

RotaryTable rotary_table(std::span<const std::int32_t> positions, std::int64_t head_dim, double theta) {
  return rotary_table(positions, plain_rope(head_dim, theta));
}

void apply_rope(float* x, std::int64_t n_tokens, std::int64_t n_heads, const RotaryTable& rope) {
  const std::int64_t half = rope.half_dim;
#pragma omp parallel for schedule(static) if (n_tokens > 4)
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    const float* c = rope.cos.data() + t * half;
    const float* s = rope.sin.data() + t * half;
    for (std::int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * 2 * half;
      // rotate_half: (x1, x2) -> (x1*cos - x2*sin, x2*cos + x1*sin), x1/x2 the two halves of the head.
      for (std::int64_t i = 0; i < half; ++i) {
        const float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * c[i] - x2 * s[i];
        v[i + half] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

void normalize_states(const float* states, std::int64_t n_heads, std::int64_t n_tokens, std::int64_t head_dim, float* out) {
  const std::int64_t stride = OnlineSoftmaxState::packed_size(head_dim);
  for (std::int64_t h = 0; h < n_heads; ++h)
    for (std::int64_t t = 0; t < n_tokens; ++t)
      OnlineSoftmaxState(const_cast<float*>(states) + (h * n_tokens + t) * stride, head_dim)
          .normalize_into(out + (t * n_heads + h) * head_dim);
}

void rotate_sink_keys(KvCache& cache, std::int64_t layer, const RopeFrequencies& freqs) {
  std::vector<float> k(cache.sink_keys(layer).begin(), cache.sink_keys(layer).end());
  const std::int64_t heads = cache.shape().n_kv_heads, d = cache.shape().head_dim;
  const std::int64_t n = static_cast<std::int64_t>(k.size()) / (heads * d);
  const std::vector<std::int32_t> shift(static_cast<std::size_t>(n), cache.sink_shift());
  apply_rope(k.data(), n, heads, rotary_table(shift, freqs, false));
  cache.write_sink_keys(layer, k.data());
}

Routing route_tokens(std::span<const float> router_logits, std::int64_t n_tokens, std::int64_t n_experts, std::int64_t top_k, bool normalize) {
  Routing r;
  r.rows_of_expert.resize(static_cast<std::size_t>(n_experts));
  std::vector<float> prob(static_cast<std::size_t>(n_experts));
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_experts));
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    const float* logits = router_logits.data() + t * n_experts;
    const float mx = *std::max_element(logits, logits + n_experts);
    double sum = 0;
    for (std::int64_t e = 0; e < n_experts; ++e) sum += std::exp(static_cast<double>(logits[e] - mx));
    for (std::int64_t e = 0; e < n_experts; ++e)
      prob[static_cast<std::size_t>(e)] = static_cast<float>(std::exp(static_cast<double>(logits[e] - mx)) / sum);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](std::int64_t a, std::int64_t b) {
      return prob[static_cast<std::size_t>(a)] > prob[static_cast<std::size_t>(b)] || (prob[static_cast<std::size_t>(a)] == prob[static_cast<std::size_t>(b)] && a < b);
    });
    float kept = 0.f;
    for (std::int64_t k = 0; k < top_k; ++k) kept += prob[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])];
    for (std::int64_t k = 0; k < top_k; ++k) {
      const std::int64_t e = order[static_cast<std::size_t>(k)];
      const float w = prob[static_cast<std::size_t>(e)];
      r.rows_of_expert[static_cast<std::size_t>(e)].push_back({t, normalize ? w / kept : w});
    }
  }
  return r;
}

void swiglu(float* gate, const float* up, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 16384)
  for (std::int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void add_inplace(float* y, const float* x, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 16384)
  for (std::int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace qwen3::ops
