#include "attention/key_mass_tracker.hpp"

#include "qwen3/online_softmax.hpp"

namespace qwen3 {

void KeyMassTracker::start(const KvCache& cache, std::int64_t n_tokens, std::int64_t q_heads, std::int64_t own_q_heads) {
  active_ = cache.tracks_key_mass();
  if (!active_) return;
  row_stats_.resize(static_cast<std::size_t>(n_tokens * q_heads * 2));
  own_row_stats_.resize(static_cast<std::size_t>(n_tokens * own_q_heads * 2));
  mass_.assign(static_cast<std::size_t>(cache.local_size()), 0.f);
}

void KeyMassTracker::add_layer(const AttentionProblem& p) {
  if (active_) attention_key_mass(p, row_stats_.data(), mass_.data());
}

// Each member holds the merged states of its own heads only, so the members all-gather their rows'
// (m, l) pairs: the key-mass pass over this member's blocks needs every row of the group's heads.
void KeyMassTracker::add_layer(const AttentionProblem& p, std::span<const float> own_states, std::span<const std::int64_t> member_rows,
                               Communicator& kv_group) {
  if (!active_) return;
  const std::int64_t stride = OnlineSoftmaxState::packed_size(p.head_dim);
  const auto rows = static_cast<std::int64_t>(own_row_stats_.size() / 2);  // head-major, like the states
  for (std::int64_t r = 0; r < rows; ++r) {
    own_row_stats_[static_cast<std::size_t>(2 * r)] = own_states[static_cast<std::size_t>(r * stride)];
    own_row_stats_[static_cast<std::size_t>(2 * r + 1)] = own_states[static_cast<std::size_t>(r * stride + 1)];
  }
  std::vector<std::int64_t> counts(member_rows.begin(), member_rows.end());
  for (std::int64_t& c : counts) c *= 2;
  kv_group.allgather(own_row_stats_, row_stats_, counts);
  add_layer(p);
}

void KeyMassTracker::finish(KvCache& cache) {
  if (active_) cache.add_key_mass(mass_);
}

}  // namespace qwen3
