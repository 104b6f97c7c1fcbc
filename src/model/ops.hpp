#pragma once
// Whole-tensor operations the model is written in. Each splits its work across the OpenMP team with
// thread_range() and calls the selected kernels; none keeps state between calls.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "kernels/kernels.hpp"
#include "kv/kv_cache.hpp"
#include "model/rope.hpp"

namespace qwen3::ops {

// [begin, end) of n items for thread `tid` of `n_threads`, with boundaries rounded to `align` items.
std::pair<std::int64_t, std::int64_t> thread_range(std::int64_t n, int tid, int n_threads, std::int64_t align = 1);

// y[t][:] = W x[t][:] for n_tokens rows; y is [n_tokens][w.rows].
void linear(const kernels::KernelTable& k, const kernels::MatrixView& w, const float* x, std::int64_t n_tokens, float* y);

// The rows of one sequence in a step over several: [first, first + count).
struct RowSpan {
  std::int64_t first = 0;
  std::int64_t count = 0;
};
// linear() over a step of several sequences that computes every row bit for bit as linear() over its
// own sequence's rows alone, whatever runs beside it (batch invariance): a sequence with enough rows
// for the gemm takes it by itself, all other rows go through the row kernel together (which gives
// each row the same result however many rows it is handed). linear() over all rows at once would put
// decode rows into a gemm once the step has 32 rows, and a gemm's sums depend on its shape.
void linear_per_sequence(const kernels::KernelTable& k, const kernels::MatrixView& w, const float* x, std::span<const RowSpan> sequences,
                         float* y);

// out[r] = weight * x[r] / sqrt(mean(x[r]^2) + eps) for n_rows rows of `dim` (in place allowed).
void rmsnorm(const float* x, const std::vector<float>& weight, std::int64_t n_rows, std::int64_t dim, float eps, float* out);

// out[t][:] = embedding row of ids[t], widened to f32 (exactly, by k.widen_rows). as_q8: the values a
// Q8 copy of the table would give (each row quantized as load quantizes it, then dequantized): the
// lookup of a table left unquantized in the file mapping on several ranks under --weights q8, so the
// rank layout does not change the embeddings.
void embed(const kernels::KernelTable& k, const kernels::MatrixView& table, std::span<const std::int32_t> ids, float* out,
           bool as_q8 = false);

// cos/sin of each token's rotary angles, [n_tokens][head_dim/2].
struct RotaryTable {
  std::int64_t half_dim = 0;
  std::vector<float> cos, sin;
};
RotaryTable rotary_table(std::span<const std::int32_t> positions, const RopeFrequencies& freqs, bool with_attention_factor = true);
RotaryTable rotary_table(std::span<const std::int32_t> positions, std::int64_t head_dim, double theta);  // plain RoPE
// Rotates x [n_tokens][n_heads][head_dim] in place, Hugging Face rotate_half layout.
void apply_rope(float* x, std::int64_t n_tokens, std::int64_t n_heads, const RotaryTable& rope);

// out[t][h][:] = o / l of the packed OnlineSoftmaxState rows states[h][t] (head-major, as attention
// writes them), for n_heads x n_tokens rows; the empty state gives zeros.
void normalize_states(const float* states, std::int64_t n_heads, std::int64_t n_tokens, std::int64_t head_dim, float* out);

// StreamingLLM's positions: the attention sinks sit just before the oldest kept token, so when the
// window slides, their keys in `layer` are rotated by the cache's sink_shift() from the exact keys
// first stored (angles in double: no error grows with the number of slides).
// The shift rotates without YaRN's attention factor: the stored keys carry it already.
void rotate_sink_keys(KvCache& cache, std::int64_t layer, const RopeFrequencies& freqs);

// A mixture-of-experts router's choice: for each expert, the rows (tokens) that chose it, in token
// order, with the weight of its output in theirs.
struct RoutedRow {
  std::int64_t token = 0;
  float weight = 0.f;
};
struct Routing {
  std::vector<std::vector<RoutedRow>> rows_of_expert;  // [n_experts]
};
// As transformers: softmax over the n_experts router logits of each token in f32, its top_k experts
// (the larger probability first, the lower expert on a tie), renormalised to sum 1 when `normalize`.
Routing route_tokens(std::span<const float> router_logits, std::int64_t n_tokens, std::int64_t n_experts, std::int64_t top_k, bool normalize);

// gate <- silu(gate) * up, elementwise over n values.
void swiglu(float* gate, const float* up, std::int64_t n);
// y += x over n values.
void add_inplace(float* y, const float* x, std::int64_t n);

}  // namespace qwen3::ops
