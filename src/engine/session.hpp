#pragma once
// One conversation's state: the model, its KV cache and the next position. feed() prefills any
// number of tokens (in chunks, so activations stay bounded) and returns the last token's logits.
#include <cstdint>
#include <span>
#include <vector>

#include "kv/kv_cache.hpp"
#include "kv/kv_policy.hpp"
#include "model/qwen3.hpp"

namespace qwen3 {

class Session {
 public:
  // prefill_chunk: tokens per forward call in prefill; 256 keeps activations of a 0.6B model near
  // 10 MB while each weight row is still reused across many tokens.
  Session(Qwen3Model& model, KvCache cache, std::int64_t prefill_chunk = 256);
  // With an eviction policy: a bounded policy evicts before each forward call so the new tokens fit
  // its budget, and then any number of tokens can be fed (prefill chunks shrink to --window).
  Session(Qwen3Model& model, KvCache cache, const KvPolicyOptions& policy, std::int64_t prefill_chunk = 256);

  // Whether `n` more tokens can be fed (always, under a bounded policy).
  bool fits(std::int64_t n) const { return policy_.bounded() || cache_.size() + n <= cache_.capacity(); }

  std::span<const float> feed(std::span<const std::int32_t> ids);
  // Like feed(), but returns the logits of every fed token ([n][vocab]), for evaluation and tests.
  const std::vector<float>& feed_all_logits(std::span<const std::int32_t> ids);

  std::int64_t position() const { return next_pos_; }
  // Forgets every token from position `pos` on (the cache keeps the prefix), e.g. to decode again
  // from the same prompt.
  void rewind(std::int64_t pos);
  const KvCache& cache() const { return cache_; }
  Qwen3Model& model() { return *model_; }

 private:
  void run(std::span<const std::int32_t> ids, bool all_logits);

  Qwen3Model* model_;
  KvCache cache_;
  KvEvictionPolicy policy_;
  std::int64_t chunk_;
  std::int32_t next_pos_ = 0;
  std::int64_t decode_steps_ = 0;  // forward calls of one token (for the test-only fault injection)
  std::vector<float> logits_;
};

}  // namespace qwen3
