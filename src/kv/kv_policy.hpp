#pragma once
// KV cache eviction policies (--kv-policy): which tokens stay when a bounded cache is full.
//   full         no eviction; the cache is bounded by -c and a full context stops generation.
//   sink-window  the first `sink` tokens (attention sinks) and the most recent `window` tokens
//                (StreamingLLM, Xiao et al., arXiv 2309.17453). Positions are the cache's, as in the
//                paper: the window is contiguous and ends at the query, so its distances to the query
//                are its text distances and its keys never move; only the sinks are re-rotated, to sit
//                just before the oldest kept token (KvCache::set_sinks).
//   window       the most recent `window` tokens only (the baseline that collapses without sinks).
//   l2           the keys of lowest L2 norm (Devoto et al., arXiv 2406.11430: a low-norm key draws
//                high attention), with --sink sinks if given; the norm of a token is its key's, summed
//                over every layer and KV head (reduced over ranks, so all agree); text positions.
//   h2o          heavy hitters + recent window (Zhang et al., arXiv 2306.14048): the --window most recent
//                tokens, and --heavy more chosen by the attention probability each has received so far
//                (summed over queries, layers, heads and ranks); --sink sinks if given; text positions.
//                Only this policy makes attention compute the per-key probability mass.
//   random       --sink sinks if given, the rest evicted at random within the budget (the floor);
//                text positions.
// Every member of a sequence-parallel group runs the same policy on the same append indices (the
// random one with the same seed), so they agree on what is evicted; each evicts what it holds.
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <unordered_map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kv/kv_cache.hpp"
#include "qwen3/comm.hpp"

namespace qwen3 {

enum class KvPolicyKind { Full, SinkWindow, Window, L2, H2O, Random };
KvPolicyKind parse_kv_policy(std::string_view name);  // qwen3::Error on anything else
std::string_view kv_policy_name(KvPolicyKind kind);

struct KvPolicyOptions {
  // The common five positionally ({kind, sink, window, evict_chunk, seed}); heavy by name.
  KvPolicyOptions(KvPolicyKind kind_ = KvPolicyKind::Full, std::optional<std::int64_t> sink_ = {}, std::int64_t window_ = 252,
                  std::int64_t evict_chunk_ = 1, std::uint64_t seed_ = 0)
      : kind(kind_), sink(sink_), window(window_), evict_chunk(evict_chunk_), seed(seed_) {}

  KvPolicyKind kind = KvPolicyKind::Full;
  std::optional<std::int64_t> sink;  // not given: 4 for sink-window, 0 for l2 and random (window: always 0)
  std::int64_t window = 252;         // recent tokens kept (l2, random: the rest of the budget)
  std::int64_t evict_chunk = 1;  // evict at least this many at once when the budget is exceeded
  std::uint64_t seed = 0;        // random
  std::optional<std::int64_t> heavy;  // h2o: heavy hitters kept beside the window (not given: = window)
};

// "full", "sink-window (4 sinks + 252 recent)", ...: for load lines and reports.
std::string describe_kv_policy(const KvPolicyOptions& opt);

class KvEvictionPolicy {
 public:
  explicit KvEvictionPolicy(const KvPolicyOptions& opt);  // checks the options (qwen3::Error)

  bool bounded() const { return opt_.kind != KvPolicyKind::Full; }
  std::int64_t sinks() const { return sinks_; }
  std::int64_t heavy() const { return heavy_; }
  std::int64_t budget() const { return sinks_ + heavy_ + opt_.window; }  // the most tokens the cache holds
  // The most tokens one forward call may append: a chunk must fit beside the kept ones.
  std::int64_t max_chunk() const { return opt_.window; }
  const KvPolicyOptions& options() const { return opt_; }

  // Evicts from `cache` so that `n_new` more tokens fit in the budget (at least evict_chunk tokens
  // when any must go), and sets where the sinks are attended. Append index = text position is assumed
  // (Session feeds positions 0, 1, 2, ...).
  void make_room(KvCache& cache, std::int64_t n_new);
  void reset();  // for a cache emptied by truncate(0)

  // l2 ranks tokens by their keys' norms: after each forward call, the caller hands it the norms of
  // the tokens just appended (KvCache::take_key_norms, summed over ranks).
  bool needs_key_norms() const { return opt_.kind == KvPolicyKind::L2; }
  void observe_key_norms(std::int64_t first_token, std::span<const float> norms);

  // h2o ranks tokens by the attention probability they received: after each forward call the caller
  // asks the cache for the mass of scored_tokens() (KvCache::take_key_mass, summed over ranks) and
  // hands it back in the same order.
  bool needs_attention_mass() const { return opt_.kind == KvPolicyKind::H2O; }
  std::vector<std::int64_t> scored_tokens() const { return {kept_.begin(), kept_.end()}; }
  void observe_attention_mass(std::span<const std::int64_t> tokens, std::span<const float> mass);

  // After a forward call appended `n_new` tokens to `cache`: what l2 or h2o rank tokens by, summed
  // over every member of `all` (each holds some heads of some tokens), so all members agree. A
  // collective for those two policies; nothing for the others.
  void observe_step(KvCache& cache, std::int64_t n_new, Communicator& all);

 private:
  KvPolicyOptions opt_;
  std::int64_t sinks_ = 0;
  std::int64_t heavy_ = 0;
  std::deque<std::int64_t> kept_;  // append indices of the kept tokens past the sinks, oldest first
  std::int64_t next_ = 0;          // the next append index this policy will see
  std::mt19937_64 rng_;
  std::unordered_map<std::int64_t, float> scores_;  // l2: key norm; h2o: attention mass received

  // The position in kept_ of the next token to evict, or kept_.size() if none may go; the last
  // `protect` entries (the recent window) are never chosen.
  std::size_t victim(std::size_t protect);
};

}  // namespace qwen3
