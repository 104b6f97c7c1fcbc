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
#include <functional>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <vector>

#include "engine/generate.hpp"
#include "engine/sampler.hpp"
#include "kv/kv_policy.hpp"
#include "kv/prefix_cache.hpp"
#include "model/qwen3.hpp"

namespace qwen3 {

struct BatchRequest {
  std::string id;
  std::vector<std::int32_t> prompt;        // at least one token
  SamplerOptions sampling;
  std::int64_t max_new_tokens = 128;       // -1: until a stop id or the context is full
  std::vector<std::int32_t> stop_ids;
  int top_logprobs = -1;                   // >= 0: each step reports the chosen token's logprob and this many alternatives
  // Its own eviction policy (a StreamingLLM sequence beside full ones); none: the engine's. The
  // random policy's seed is always the engine's.
  std::optional<KvPolicyOptions> kv_policy;
};

struct BatchResult {
  std::string id;
  std::vector<std::int32_t> ids;           // generated, the stop id excluded
  StopReason stop = StopReason::Length;
  std::int64_t cached_tokens = 0;          // prompt tokens whose KV came from the prefix cache
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
  KvPolicyOptions kv_policy;  // of a request without its own
  // Tokens of KV cache all sequences may hold together (the memory plan's figure); 0: max_running x
  // context. A request reserves the blocks it can fill (prompt + max_new_tokens, at most its context;
  // a bounded policy's budget) when admitted, and waits in the queue while they are not free, so a
  // running sequence never runs out of cache.
  std::int64_t kv_pool_tokens = 0;
  // Each sequence's logits bit for bit as alone, whatever runs beside it (Qwen3Model::forward).
  bool batch_invariant = false;
  // Sequences under the full policy keep their full KV blocks in a PrefixCache, and a new one starts
  // from the longest cached prefix of its prompt instead of computing it again. Idle cached blocks
  // stay in the pool until a request needs their room.
  bool prefix_cache = true;
};

// The KV pool in blocks of kv_block tokens: reserved by running sequences (their own and the cached
// prefix blocks they share), cached prefix blocks no sequence uses now (given up when a request needs
// their room), and blocks of running sequences holding tokens now.
struct KvPoolUse {
  std::int64_t total = 0;
  std::int64_t reserved = 0;
  std::int64_t cached = 0;
  std::int64_t filled = 0;
};

// Called for every generated token as it is chosen (stop ids excluded), with its logprobs when asked.
using TokenCallback = std::function<void(const std::string& id, const GeneratedStep& step)>;

class BatchEngine {
 public:
  BatchEngine(Qwen3Model& model, const BatchEngineOptions& options);
  ~BatchEngine();

  // Queues a request; it starts at the first step with room. qwen3::Error for a request that can never
  // run (no prompt, a prompt longer than the context under the full policy).
  void submit(BatchRequest request);
  // What submit() checks, without queueing (thread-safe: reads only the engine's fixed settings).
  void check(const BatchRequest& request) const;
  // Drops a waiting or running request (its blocks return at once); false if it is not here. On ranks
  // every member cancels the same ids between the same steps.
  bool cancel(const std::string& id);
  std::size_t waiting() const { return queue_.size(); }
  std::size_t running() const { return running_.size(); }
  bool idle() const { return queue_.empty() && running_.empty(); }
  KvPoolUse kv_pool() const;
  std::int64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }  // prompt tokens not computed, since start
  std::int64_t cached_tokens(const std::string& id) const;  // of a running request (0 if not running)

  // One forward step over the running sequences (admitting waiting ones first); returns the
  // requests that finished in it.
  std::vector<BatchResult> step(const TokenCallback& on_token = {});

 private:
  struct Sequence;
  void admit();
  // Tokens each running sequence feeds in this step (0: it waits for budget).
  std::vector<std::int64_t> plan() const;
  // After the step's forward: sample where logits came out; true when the sequence is done.
  bool advance(Sequence& s, std::int64_t fed, bool sampled, const TokenCallback& on_token);
  // KV blocks a request may fill.
  std::int64_t blocks_needed(const BatchRequest& r) const;
  KvPolicyOptions policy_of(const BatchRequest& r) const;
  // Blocks neither reserved by a running sequence nor held by the prefix cache.
  std::int64_t free_blocks() const { return pool_blocks_ - reserved_blocks_ - prefix_.blocks(); }
  std::int64_t prefill_chunk() const;  // the most prompt tokens of one sequence in a step
  // Of a cached prefix, the tokens a new sequence takes instead of computing them.
  std::int64_t reused_tokens(const PrefixCache::Match& match) const;
  // `kept`: the match's keys up to the reused tokens, which the sequence holds from now on.
  void start_from_prefix(Sequence& s, const PrefixCache::Match& match, std::span<const std::uint64_t> kept);
  // Hands the sequence's newly filled full blocks to the prefix cache.
  void offer_blocks(Sequence& s);
  void retire(Sequence& s);  // gives back its reservation and its hold on cached blocks

  Qwen3Model& model_;
  BatchEngineOptions opt_;
  std::deque<BatchRequest> queue_;
  std::vector<std::unique_ptr<Sequence>> running_;
  std::int64_t pool_blocks_ = 0;
  std::int64_t reserved_blocks_ = 0;  // running sequences' own blocks (not those in the prefix cache)
  PrefixCache prefix_;
  std::int64_t prefix_hit_tokens_ = 0;
};

}  // namespace qwen3
