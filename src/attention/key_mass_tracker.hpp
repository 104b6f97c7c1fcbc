#pragma once
// h2o's statistics beside attention, kept out of the model's math: over one forward call, the
// attention probability every cached key held here receives, summed over query rows, heads and layers,
// handed to the cache at the end (KvCache::add_key_mass). Idle unless the cache asks for it.
#include <cstdint>
#include <span>
#include <vector>

#include "attention/attention.hpp"
#include "kv/kv_cache.hpp"
#include "qwen3/comm.hpp"

namespace qwen3 {

class KeyMassTracker {
 public:
  // At the start of a forward call over `n_tokens`: tracks when `cache` asks for key mass. `q_heads`
  // are the query heads this member attends for (its KV group's), `own_q_heads` those whose merged
  // states it ends with when the group's members split the KV blocks.
  void start(const KvCache& cache, std::int64_t n_tokens, std::int64_t q_heads, std::int64_t own_q_heads);
  bool active() const { return active_; }

  // Where a member alone in its KV group has attention write each row's final (m, l); nullptr when idle.
  float* row_stats() { return active_ ? row_stats_.data() : nullptr; }

  // After one layer's attention (`p`, over this member's blocks). With the blocks split over the
  // group's members, the rows' (m, l) come from the merged states this member holds (`own_states`,
  // packed, head-major) and are all-gathered over `kv_group` (`member_rows[m]`: rows member m holds).
  void add_layer(const AttentionProblem& p, std::span<const float> own_states, std::span<const std::int64_t> member_rows,
                 Communicator& kv_group);
  void add_layer(const AttentionProblem& p);  // a member alone in its group: row_stats() was filled

  // At the end of the forward call: the mass goes to the cache.
  void finish(KvCache& cache);

 private:
  bool active_ = false;
  std::vector<float> row_stats_, own_row_stats_, mass_;
};

}  // namespace qwen3
