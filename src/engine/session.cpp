#include "engine/session.hpp"

#include <algorithm>
#include <numeric>

#include "engine/fault_injection.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {

Session::Session(Qwen3Model& model, KvCache cache, std::int64_t prefill_chunk)
    : Session(model, std::move(cache), KvPolicyOptions{}, prefill_chunk) {}

Session::Session(Qwen3Model& model, KvCache cache, const KvPolicyOptions& policy, std::int64_t prefill_chunk)
    : model_(&model), cache_(std::move(cache)), policy_(policy), chunk_(std::max<std::int64_t>(1, prefill_chunk)) {
  if (policy_.bounded()) {
    // A chunk must fit beside the kept tokens; and the cache holds the budget, whatever -c said.
    chunk_ = std::min(chunk_, policy_.max_chunk());
    cache_ = KvCache(cache_.shape(), policy_.budget(), cache_.owner());
    cache_.track_key_norms(policy_.needs_key_norms());
    cache_.track_key_mass(policy_.needs_attention_mass());
  }
}

void Session::run(std::span<const std::int32_t> ids, bool all_logits) {
  if (ids.empty()) throw Error("nothing to feed: empty token list");
  if (!fits(static_cast<std::int64_t>(ids.size()))) {
    throw Error("prompt of " + std::to_string(ids.size()) + " tokens does not fit: " + std::to_string(cache_.size()) +
                " cached, context length " + std::to_string(cache_.capacity()) + " (raise -c)");
  }
  if (ids.size() == 1) ++decode_steps_;
  maybe_inject_test_fault(model_->distribution().all->rank(), static_cast<std::int64_t>(ids.size()), decode_steps_);
  const std::int64_t vocab = model_->vocab_range().size();  // this rank's rows
  const std::int64_t n_total = static_cast<std::int64_t>(ids.size());
  logits_.resize(static_cast<std::size_t>((all_logits ? n_total : 1) * vocab));
  std::vector<std::int32_t> positions;
  for (std::int64_t start = 0; start < n_total; start += chunk_) {
    const std::int64_t n = std::min(chunk_, n_total - start);
    positions.resize(static_cast<std::size_t>(n));
    std::iota(positions.begin(), positions.end(), next_pos_);
    const bool last_chunk = start + n == n_total;
    policy_.make_room(cache_, n);
    if (all_logits) {
      model_->forward(ids.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(n)), positions, cache_, n,
                      logits_.data() + start * vocab);
    } else {
      // Only the final token's logits are needed; earlier chunks skip the lm_head.
      model_->forward(ids.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(n)), positions, cache_,
                      last_chunk ? 1 : 0, logits_.data());
    }
    policy_.observe_step(cache_, n, *model_->distribution().all);
    next_pos_ += static_cast<std::int32_t>(n);
  }
}

void Session::rewind(std::int64_t pos) {
  if (pos < 0 || pos > next_pos_) throw Error("rewind to " + std::to_string(pos) + ": outside [0, " + std::to_string(next_pos_) + "]");
  cache_.truncate(pos);
  if (pos == 0) policy_.reset();
  next_pos_ = static_cast<std::int32_t>(pos);
}

std::span<const float> Session::feed(std::span<const std::int32_t> ids) {
  run(ids, false);
  return logits_;
}

const std::vector<float>& Session::feed_all_logits(std::span<const std::int32_t> ids) {
  run(ids, true);
  return logits_;
}

}  // namespace qwen3
