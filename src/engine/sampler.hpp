#pragma once
// Next-token choice from raw logits, in transformers' order: repetition penalty -> temperature ->
// top-k -> top-p -> min-p -> draw. Temperature 0 (or do_sample false) is greedy arg-max.
//
// With the vocabulary split over ranks, each rank holds a LogitsSlice and the full logits never
// travel: greedy is one (value, index) max-reduction; sampling gathers each rank's top-k candidates
// on rank 0, which draws and broadcasts the id (top-k off: every logit is a candidate, so then they do
// travel); logprobs reduce the log-sum-exp. One process runs the same code on LocalCommunicator, so
// a seed gives the same tokens on any number of ranks.
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "qwen3/comm.hpp"

namespace qwen3 {

struct SamplerOptions {
  float temperature = 0.f;       // <= 0: greedy
  std::int32_t top_k = 0;        // <= 0: off
  float top_p = 1.f;             // >= 1: off
  float min_p = 0.f;             // <= 0: off
  float repeat_penalty = 1.f;    // 1: off (CTRL-style, as transformers' RepetitionPenaltyLogitsProcessor)
  // Tokens the penalty looks back over: -1 the whole context (prompt included), as transformers
  // does; 0 none; N the last N (llama.cpp's --repeat-last-n, 64 there by default).
  std::int32_t repeat_last_n = -1;
  std::uint64_t seed = 0;
};

// The logits one rank holds: vocabulary rows [offset, offset + values.size()).
struct LogitsSlice {
  std::span<const float> values;
  std::int64_t offset = 0;
};

// A request's sampling fields (std::optional members temperature, top_k, top_p, min_p,
// repetition_penalty, seed, as batch lines and OpenAI bodies name them) over the checkpoint's
// generation_config.json defaults (do_sample false: greedy) and `default_seed`.
template <class Fields, class GenerationDefaults>
SamplerOptions sampler_options(const Fields& f, const GenerationDefaults& g, std::uint64_t default_seed) {
  SamplerOptions s;
  s.temperature = f.temperature.value_or(g.do_sample ? g.temperature : 0.f);
  s.top_k = f.top_k.value_or(g.top_k);
  s.top_p = f.top_p.value_or(g.top_p);
  s.min_p = f.min_p.value_or(g.min_p);
  s.repeat_penalty = f.repetition_penalty.value_or(g.repetition_penalty);
  s.seed = f.seed.value_or(default_seed);
  return s;
}

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& opt) : opt_(opt), rng_(opt.seed) {}
  // `recent`: tokens seen so far (those within repeat_last_n are penalised). Every member of `comm` calls
  // this with its slice and gets the same id.
  std::int32_t sample(LogitsSlice logits, std::span<const std::int32_t> recent, Communicator& comm);
  // The whole vocabulary in this process.
  std::int32_t sample(std::span<const float> logits, std::span<const std::int32_t> recent) {
    return sample(LogitsSlice{logits, 0}, recent, local_communicator());
  }

 private:
  std::int32_t draw(std::vector<float> gathered);

  SamplerOptions opt_;
  std::mt19937_64 rng_;
  std::vector<float> scratch_;
  std::vector<std::pair<float, std::int32_t>> candidates_;
};

std::int32_t argmax(std::span<const float> logits);

// Per row of logits ([rows][width]: this rank's vocabulary slice starting at `offset`): the
// log-softmax at targets[r] over the whole vocabulary, its log-normaliser, and the row's arg-max (ties:
// lowest id). With a split vocabulary that is one max-reduction and one sum-reduction for all rows;
// the logits never travel. Every member of `comm` calls it and gets the same figures.
struct RowScore {
  double logprob = 0;
  double log_z = 0;
  std::int32_t argmax = 0;
};
std::vector<RowScore> score_rows(std::span<const float> logits, std::int64_t offset, std::span<const std::int32_t> targets,
                                 Communicator& comm);

// Natural-log softmax of `id` over all logits, and the k most likely (id, logprob) pairs. With a
// split vocabulary every member calls it; `top` is filled on rank 0 only.
struct TokenLogprobs {
  double logprob = 0;
  std::vector<std::pair<std::int32_t, double>> top;
};
TokenLogprobs token_logprobs(LogitsSlice logits, std::int32_t id, int k, Communicator& comm);
inline TokenLogprobs token_logprobs(std::span<const float> logits, std::int32_t id, int k) {
  return token_logprobs(LogitsSlice{logits, 0}, id, k, local_communicator());
}

}  // namespace qwen3
