#include "kv/kv_policy.hpp"

#include <algorithm>
#include <string>

#include "qwen3/error.hpp"

namespace qwen3 {

KvPolicyKind parse_kv_policy(std::string_view name) {
  if (name == "full") return KvPolicyKind::Full;
  if (name == "sink-window") return KvPolicyKind::SinkWindow;
  if (name == "window") return KvPolicyKind::Window;
  if (name == "l2") return KvPolicyKind::L2;
  if (name == "h2o") return KvPolicyKind::H2O;
  if (name == "random") return KvPolicyKind::Random;
  throw Error("--kv-policy " + std::string(name) + ": expected full, sink-window, window, l2, h2o or random");
}

std::string_view kv_policy_name(KvPolicyKind kind) {
  switch (kind) {
    case KvPolicyKind::Full: return "full";
    case KvPolicyKind::SinkWindow: return "sink-window";
    case KvPolicyKind::Window: return "window";
    case KvPolicyKind::L2: return "l2";
    case KvPolicyKind::H2O: return "h2o";
    case KvPolicyKind::Random: return "random";
  }
  return "?";
}

std::string describe_kv_policy(const KvPolicyOptions& opt) {
  const std::string name(kv_policy_name(opt.kind));
  const std::string chunk = opt.evict_chunk > 1 ? ", evicting " + std::to_string(opt.evict_chunk) + " at once" : "";
  switch (opt.kind) {
    case KvPolicyKind::Full: return name;
    case KvPolicyKind::Window: return name + " (" + std::to_string(opt.window) + " recent" + chunk + ")";
    case KvPolicyKind::SinkWindow: return name + " (" + std::to_string(KvEvictionPolicy(opt).sinks()) + " sinks + " + std::to_string(opt.window) + " recent" + chunk + ")";
    case KvPolicyKind::H2O: {
      const KvEvictionPolicy p(opt);
      return name + " (" + std::to_string(p.sinks()) + " sinks + " + std::to_string(p.heavy()) + " heavy hitters + " + std::to_string(opt.window) + " recent" + chunk + ")";
    }
    default: return name + " (" + std::to_string(KvEvictionPolicy(opt).sinks()) + " sinks + " + std::to_string(opt.window) + " more" + chunk + ")";
  }
}

KvEvictionPolicy::KvEvictionPolicy(const KvPolicyOptions& opt) : opt_(opt), rng_(opt.seed) {
  if (!bounded()) return;
  if (opt_.sink.value_or(0) < 0) throw Error("--sink: expected a count >= 0");
  if (opt_.window < 1) throw Error("--window: expected at least 1 recent token");
  if (opt_.heavy && opt_.kind != KvPolicyKind::H2O) throw Error("--heavy is for --kv-policy h2o");
  heavy_ = opt_.kind == KvPolicyKind::H2O ? opt_.heavy.value_or(opt_.window) : 0;
  if (heavy_ < 0) throw Error("--heavy: expected a count >= 0");
  if (opt_.evict_chunk < 1 || opt_.evict_chunk > opt_.window)
    throw Error("--evict-chunk " + std::to_string(opt_.evict_chunk) + ": expected 1 .. --window (" + std::to_string(opt_.window) + ")");
  sinks_ = opt_.kind == KvPolicyKind::Window ? 0 : opt_.sink.value_or(opt_.kind == KvPolicyKind::SinkWindow ? 4 : 0);
}

void KvEvictionPolicy::reset() {
  kept_.clear();
  scores_.clear();
  next_ = 0;
  rng_.seed(opt_.seed);
}

std::size_t KvEvictionPolicy::victim(std::size_t protect) {
  const std::size_t n = kept_.size() - std::min(protect, kept_.size());
  if (n == 0) return kept_.size();
  switch (opt_.kind) {
    case KvPolicyKind::Random: return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
    case KvPolicyKind::L2:  // the largest norm; on a tie the oldest
    case KvPolicyKind::H2O: {  // the least attention received; on a tie the oldest
      const float sign = opt_.kind == KvPolicyKind::L2 ? 1.f : -1.f;
      std::size_t best = 0;
      for (std::size_t i = 1; i < n; ++i)
        if (sign * scores_[kept_[i]] > sign * scores_[kept_[best]]) best = i;
      return best;
    }
    default: return 0;  // the oldest
  }
}

void KvEvictionPolicy::observe_key_norms(std::int64_t first_token, std::span<const float> norms) {
  for (std::size_t i = 0; i < norms.size(); ++i) scores_[first_token + static_cast<std::int64_t>(i)] = norms[i];
}

void KvEvictionPolicy::observe_attention_mass(std::span<const std::int64_t> tokens, std::span<const float> mass) {
  if (tokens.size() != mass.size()) throw Error("attention mass: " + std::to_string(mass.size()) + " values for " + std::to_string(tokens.size()) + " tokens");
  for (std::size_t i = 0; i < tokens.size(); ++i) scores_[tokens[i]] += mass[i];
}

void KvEvictionPolicy::observe_step(KvCache& cache, std::int64_t n_new, Communicator& all) {
  if (needs_key_norms()) {
    std::vector<float> norms = cache.take_key_norms(cache.appended() - n_new, n_new);
    all.allreduce_sum(norms);
    observe_key_norms(cache.appended() - n_new, norms);
  }
  if (needs_attention_mass()) {
    const std::vector<std::int64_t> tokens = scored_tokens();
    std::vector<float> mass = cache.take_key_mass(tokens);
    all.allreduce_sum(mass);
    observe_attention_mass(tokens, mass);
  }
}

void KvEvictionPolicy::make_room(KvCache& cache, std::int64_t n_new) {
  if (!bounded()) return;
  if (cache.appended() != next_) throw Error("KV policy out of step with its cache (" + std::to_string(cache.appended()) + " appended, " + std::to_string(next_) + " seen)");
  if (n_new > max_chunk()) throw Error("KV policy: " + std::to_string(n_new) + " tokens at once exceed --window " + std::to_string(opt_.window));
  // The tokens about to be appended: sinks until there are enough, then kept-recent ones.
  const std::int64_t first_new = next_;
  next_ += n_new;
  const std::int64_t sinks_before = std::min(first_new, sinks_);
  const std::int64_t recent_new = n_new - (std::min(next_, sinks_) - sinks_before);
  std::int64_t excess = static_cast<std::int64_t>(kept_.size()) + recent_new - (heavy_ + opt_.window);
  if (excess > 0) {
    excess = std::min<std::int64_t>(static_cast<std::int64_t>(kept_.size()), std::max(excess, opt_.evict_chunk));
    // h2o never evicts from the recent window: the newest window - recent_new kept tokens stay.
    const std::size_t protect = opt_.kind == KvPolicyKind::H2O ? static_cast<std::size_t>(std::max<std::int64_t>(0, opt_.window - recent_new)) : 0;
    for (std::int64_t i = 0; i < excess; ++i) {
      const std::size_t at = victim(protect);
      if (at == kept_.size()) break;  // h2o: a chunk larger than the heavy hitters takes what is there
      cache.evict(kept_[at]);
      scores_.erase(kept_[at]);
      kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(at));
    }
  }
  for (std::int64_t t = std::max(first_new, sinks_); t < next_; ++t) kept_.push_back(t);
  // Sink-window attends the sinks just before the oldest kept token: shifted by its distance from them
  // (0 until something is evicted).
  if (opt_.kind == KvPolicyKind::SinkWindow)
    cache.set_sinks(sinks_, kept_.empty() ? 0 : static_cast<std::int32_t>(kept_.front() - sinks_));
}

}  // namespace qwen3
