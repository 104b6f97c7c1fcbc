#pragma once
// Continuous batching: many sequences through one model, one forward step at a time. Each step gives
// every running sequence in decode its next token and the sequences still in prefill a chunk of their
// prompt, under a token budget, so a new request joins at the next step instead of waiting for the
// batch to finish and a long prompt does not stall the others. Every linear then reads its weights
// once for all of them (Qwen3Model::forward over a batch); each sequence keeps its own KV cache,
// eviction policy and sampler, and gets the tokens it would get alone.
//
// On ranks, every member runs the same engine on the same requests submitted in the same order: the
// plan of each step is a function of that shared state alone (no clocks), so all members take the
// same step, and sampling agrees per sequence as it does for one.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/generate.hpp"
#include "engine/sampler.hpp"
#include "kv/kv_policy.hpp"
#include "model/qwen3.hpp"

namespace qwen3 {

struct BatchRequest {
  std::string id;
  std::vector<std::int32_t> prompt;        // at least one token
  SamplerOptions sampling;
  std::int64_t max_new_tokens = 128;       // -1: until a stop id or the context is full
  std::vector<std::int32_t> stop_ids;
};

struct BatchResult {
  std::string id;
  std::vector<std::int32_t> ids;           // generated, the stop id excluded
  StopReason stop = StopReason::Length;
  Timing timing;                           // ttft from the step the request was admitted in
};

struct BatchEngineOptions {
  std::int64_t max_running = 16;    // sequences in one step
  // Tokens in one step: every decode token first, then whole prefill chunks of at most
  // token_budget - (max_running - 1) tokens (so one always fits).
  std::int64_t token_budget = 256;
  std::int64_t context = 512;       // tokens one sequence may hold (its KV cache; a bounded policy streams past it)
  KvType kv_type = KvType::BF16;
  std::int64_t kv_block = 64;
  KvPolicyOptions kv_policy;
};

class BatchEngine {
 public:
  BatchEngine(Qwen3Model& model, const BatchEngineOptions& options);
  ~BatchEngine();

  // Queues a request; it starts at the first step with room. qwen3::Error for a request that can never
  // run (no prompt, a prompt longer than the context under the full policy).
  void submit(BatchRequest request);
  std::size_t waiting() const { return queue_.size(); }
  std::size_t running() const { return running_.size(); }
  bool idle() const { return queue_.empty() && running_.empty(); }

  // One forward step over the running sequences (admitting waiting ones first); returns the
  // requests that finished in it. `on_token(id, token)` runs for every generated token as it is chosen.
  std::vector<BatchResult> step(const std::function<void(const std::string&, std::int32_t)>& on_token = {});

 private:
  struct Sequence;
  void admit();
  // Tokens each running sequence feeds in this step (0: it waits for budget).
  std::vector<std::int64_t> plan() const;
  // After the step's forward: sample where logits came out; true when the sequence is done.
  bool advance(Sequence& s, std::int64_t fed, bool sampled, const std::function<void(const std::string&, std::int32_t)>& on_token);

  Qwen3Model& model_;
  BatchEngineOptions opt_;
  std::deque<BatchRequest> queue_;
  std::vector<std::unique_ptr<Sequence>> running_;
};

}  // namespace qwen3
