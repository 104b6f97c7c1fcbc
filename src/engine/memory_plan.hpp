#pragma once
// Will the run fit? Weights, KV cache and working buffers, summed over the ranks that share this
// host's memory and set against what the host (or the job's cgroup) has left, before any large
// allocation: a run that cannot fit ends at start-up with one line naming the bytes, never with the
// OOM killer halfway through a generation. Without an explicit -c the context is lowered to what fits.
#include <cstdint>
#include <string>
#include <vector>

#include "parallel/layout.hpp"
#include "kv/kv_cache.hpp"
#include "memory/memory_budget.hpp"
#include "qwen3/comm.hpp"
#include "qwen3/config.hpp"

namespace qwen3 {

// What the caller will ask the KV cache to hold.
struct KvRequest {
  KvType type = KvType::BF16;
  std::int64_t block = 64;
  // Tokens the cache must hold (an explicit -c, a bounded policy's budget, eval's text); 0: the model's
  // max_position_embeddings, lowered to what fits.
  std::int64_t tokens = 0;
  // With tokens 0: what to lower to fit (0: the model's max_position_embeddings). A server's KV pool
  // asks for its sequences' contexts together and takes what fits.
  std::int64_t default_tokens = 0;
  std::string asked_by;  // names the request in a refusal: "-c 40960", "eval of 100000 tokens with --kv-policy full"
  std::vector<std::string> instead;  // what to try instead, named in a refusal: "use A, B or C"
  std::int64_t logits_rows = 1;  // rows of logits kept at once (eval's chunked protocol keeps a whole chunk)
  std::string held_as;  // how the load line names what the cache holds, when not one sequence's context
};

// One rank's bytes: what it will hold whatever the context, and what each cached token adds.
struct RankMemory {
  double fixed = 0;         // weights + working buffers
  double weights = 0;       // (part of fixed, for messages)
  double kv_per_token = 0;
};
RankMemory rank_memory(const Qwen3Config& cfg, const ModelPartition& part, double weight_bytes, const KvRequest& kv);

// The same figures summed over the ranks that share one memory system.
struct HostMemory {
  double fixed = 0;
  double weights = 0;
  double kv_per_token = 0;
  int ranks = 1;
};

struct MemoryFit {
  std::int64_t kv_tokens = 0;     // the context the cache is made for
  std::int64_t lowered_from = 0;  // > 0: the default context (this many tokens) was lowered to fit
  double host_bytes = 0;          // what the ranks on this host will hold, at kv_tokens
  AvailableMemory available;
};

// Pure arithmetic (unit-tested): the context that fits, or qwen3::Error with one line giving the bytes
// needed, the bytes available and their source. `what` names the checkpoint in messages.
MemoryFit fit_memory(const HostMemory& host, const KvRequest& kv, std::int64_t default_tokens, const AvailableMemory& available,
                     const std::string& what);

// Collective over `world`: sums each rank's figures over its memory system, fits, and agrees on one
// context for every rank (the smallest that any host can hold). A refusal on any rank ends every rank
// with one line (engine/agreement.hpp).
MemoryFit plan_memory(Communicator& world, const RankMemory& mine, const KvRequest& kv, std::int64_t default_tokens,
                      const std::string& what);

// "1.41 GiB at -c 2048 (lowered from 40960 to fit 3.00 GiB available, MemAvailable)" style suffix for
// the load line; empty unless the context was lowered.
std::string describe_lowered_context(const MemoryFit& fit);

}  // namespace qwen3
