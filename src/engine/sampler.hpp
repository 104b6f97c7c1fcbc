#pragma once
// Next-token choice from raw logits, in transformers' order: repetition penalty -> temperature ->
// top-k -> top-p -> min-p -> draw. Temperature 0 (or do_sample false) is greedy arg-max.
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace qwen3 {

struct SamplerOptions {
  float temperature = 0.f;       // <= 0: greedy
  std::int32_t top_k = 0;        // <= 0: off
  float top_p = 1.f;             // >= 1: off
  float min_p = 0.f;             // <= 0: off
  float repeat_penalty = 1.f;    // 1: off (CTRL-style, as transformers' RepetitionPenaltyLogitsProcessor)
  std::int32_t repeat_last_n = 64;
  std::uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& opt) : opt_(opt), rng_(opt.seed) {}
  // `recent`: tokens seen so far (the last repeat_last_n are penalised).
  std::int32_t sample(std::span<const float> logits, std::span<const std::int32_t> recent);

 private:
  SamplerOptions opt_;
  std::mt19937_64 rng_;
  std::vector<float> scratch_;
  std::vector<std::pair<float, std::int32_t>> candidates_;
};

std::int32_t argmax(std::span<const float> logits);

// Natural-log softmax of `id` over all logits, and the k most likely (id, logprob) pairs.
struct TokenLogprobs {
  double logprob = 0;
  std::vector<std::pair<std::int32_t, double>> top;
};
TokenLogprobs token_logprobs(std::span<const float> logits, std::int32_t id, int k);

}  // namespace qwen3
