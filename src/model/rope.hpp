#pragma once
// The rotary embedding's frequencies, plain or YaRN-scaled (rope_scaling), computed as the pinned
// transformers (4.57.6) computes them, and the attention factor YaRN multiplies cos and sin by.
#include <cstdint>
#include <vector>

#include "qwen3/config.hpp"

namespace qwen3 {

struct RopeFrequencies {
  std::vector<float> inv_freq;   // [head_dim / 2], rounded to f32 as transformers has them
  float attention_factor = 1.f;  // YaRN: cos and sin are scaled by it, so q.k by its square
};

// Plain RoPE: inv_freq[i] = theta^(-2i / head_dim).
RopeFrequencies plain_rope(std::int64_t head_dim, double theta);

// cfg's frequencies: plain, or YaRN where cfg.rope_scaling says so. transformers (4.57.6) uses the
// config's `factor` as given, also where original_max_position_embeddings and max_position_embeddings
// imply another ratio (it only warns): so Qwen's recipe (factor 4, original 32768, max 131072 or 40960)
// scales by 4 here, as in vLLM.
RopeFrequencies rope_frequencies(const Qwen3Config& cfg);

}  // namespace qwen3
