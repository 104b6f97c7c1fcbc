#pragma once
// Causal grouped-query attention of new queries against everything in the KV cache (the new tokens'
// own K/V included). Two paths that must agree to 1e-5:
//   standard:  materialise each query's full score row, softmax it, weight the values;
//   streaming: flash-style, KV block by KV block with an OnlineSoftmaxState per query row; queries
//              tiled, and for decode the blocks split across threads and joined with merge().
// Visibility is decided by global positions (key_pos <= query_pos), never by array index.
#include <cstdint>
#include <span>
#include <string_view>

#include "kernels/kernels.hpp"
#include "kv/kv_cache.hpp"

namespace qwen3 {

enum class AttentionKind { Standard, Streaming };
AttentionKind parse_attention_kind(std::string_view name);  // "standard" | "streaming", else qwen3::Error
std::string_view attention_kind_name(AttentionKind kind);

struct AttentionProblem {
  const kernels::KernelTable* kernels = nullptr;
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;
  std::int64_t head_dim = 0;
  float scale = 1.f;                       // 1/sqrt(head_dim)
  const float* q = nullptr;                // [n_tokens][n_heads * head_dim], RoPE applied
  std::span<const std::int32_t> positions; // global position of each query token
  const KvCache* cache = nullptr;
  std::int64_t layer = 0;
  float* out = nullptr;                    // [n_tokens][n_heads * head_dim]
  // When set, `out` is not written: the unnormalised partial state of every (head, token) row over the
  // keys this cache holds goes here instead, for a merge with the states of the members holding the
  // other KV blocks. Head-major ([n_heads][n_tokens] packed OnlineSoftmaxState rows), so a run of heads
  // is one contiguous range: the merge can be a reduce-scatter along the heads. A row with no visible
  // key here is the empty state.
  float* states = nullptr;
  // When set (and states is not), the softmax max m and sum l of every (head, token) row over the keys
  // it attended go here as well, head-major ([n_heads][n_tokens][2]): what attention_key_mass needs.
  float* row_stats = nullptr;

  std::int64_t n_tokens() const { return static_cast<std::int64_t>(positions.size()); }
  // Head-major index of (token t, head h): the layout of `states` and `row_stats`.
  std::int64_t head_major_row(std::int64_t t, std::int64_t h) const { return h * n_tokens() + t; }
  // The state row of (token t, head h) in `states`.
  float* state_row(std::int64_t t, std::int64_t h) const { return states + head_major_row(t, h) * (head_dim + 2); }
  std::int64_t group_size() const { return n_heads / n_kv_heads; }  // query heads per KV head
};

void standard_attention(const AttentionProblem& p);

struct StreamingOptions {
  std::int64_t query_tile = 16;  // query tokens per task in prefill: 16 x GQA group rows share each K/V block load
  std::int64_t kv_splits = 0;    // decode: split the blocks into this many parts (0: one per thread)
};
void streaming_attention(const AttentionProblem& p, const StreamingOptions& opt = {});

// Adds to mass[i] (the cache's slots held here, in blocks() order) the probability the query rows of p
// put on that key, exp(score - m) / l with each row's final m and l (row_stats, laid out as above),
// summed over rows. The scores are computed again: a second QK pass, paid only when a policy asks for
// it (h2o), instead of a probability output in every attention kernel.
void attention_key_mass(const AttentionProblem& p, const float* row_stats, float* mass);

inline void attention(AttentionKind kind, const AttentionProblem& p) {
  if (kind == AttentionKind::Standard) standard_attention(p);
  else streaming_attention(p);
}

}  // namespace qwen3
