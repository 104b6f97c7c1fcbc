#pragma once
// An AttentionProblem over one layer-0 cache, as the attention and KV-policy tests build it.
#include <cmath>
#include <span>

#include "attention/attention.hpp"

namespace qwen3::test {

inline AttentionProblem attention_problem(const kernels::KernelTable& k, std::int64_t n_heads, std::int64_t n_kv, std::int64_t d,
                                          const float* q, std::span<const std::int32_t> positions, const KvCache& cache, float* out) {
  AttentionProblem p;
  p.kernels = &k;
  p.n_heads = n_heads;
  p.n_kv_heads = n_kv;
  p.head_dim = d;
  p.scale = 1.f / std::sqrt(static_cast<float>(d));
  p.q = q;
  p.positions = positions;
  p.cache = &cache;
  p.out = out;
  return p;
}

}  // namespace qwen3::test
