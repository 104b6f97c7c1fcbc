#include "engine/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qwen3 {

std::int32_t argmax(std::span<const float> logits) {
  return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::int32_t Sampler::sample(std::span<const float> logits, std::span<const std::int32_t> recent) {
  scratch_.assign(logits.begin(), logits.end());
  if (opt_.repeat_penalty != 1.f) {
    const std::size_t n = std::min<std::size_t>(recent.size(), static_cast<std::size_t>(std::max(0, opt_.repeat_last_n)));
    std::vector<std::int32_t> seen(recent.end() - static_cast<std::ptrdiff_t>(n), recent.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (std::int32_t id : seen) {
      float& x = scratch_[static_cast<std::size_t>(id)];
      x = x > 0 ? x / opt_.repeat_penalty : x * opt_.repeat_penalty;
    }
  }
  if (opt_.temperature <= 0.f) return argmax(scratch_);

  candidates_.clear();
  for (std::size_t i = 0; i < scratch_.size(); ++i)
    candidates_.emplace_back(scratch_[i] / opt_.temperature, static_cast<std::int32_t>(i));
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first; };
  std::size_t keep = candidates_.size();
  if (opt_.top_k > 0) keep = std::min(keep, static_cast<std::size_t>(opt_.top_k));
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(), by_logit);
  candidates_.resize(keep);

  // Probabilities of the survivors (max subtracted for range).
  const float mx = candidates_.front().first;
  double sum = 0;
  for (auto& c : candidates_) {
    c.first = std::exp(c.first - mx);
    sum += c.first;
  }
  for (auto& c : candidates_) c.first = static_cast<float>(c.first / sum);
  if (opt_.top_p < 1.f) {  // smallest prefix whose mass reaches top_p (at least one token)
    double cum = 0;
    std::size_t n = 0;
    while (n < candidates_.size()) {
      cum += candidates_[n++].first;
      if (cum >= opt_.top_p) break;
    }
    candidates_.resize(n);
  }
  if (opt_.min_p > 0.f) {  // drop tokens below min_p x the top probability
    const float floor = opt_.min_p * candidates_.front().first;
    auto it = std::find_if(candidates_.begin(), candidates_.end(), [floor](const auto& c) { return c.first < floor; });
    candidates_.erase(std::max(it, candidates_.begin() + 1), candidates_.end());
  }
  double total = 0;
  for (const auto& c : candidates_) total += c.first;
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_);
  for (const auto& c : candidates_) {
    r -= c.first;
    if (r <= 0) return c.second;
  }
  return candidates_.back().second;
}

TokenLogprobs token_logprobs(std::span<const float> logits, std::int32_t id, int k) {
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - mx);
  const double log_z = mx + std::log(sum);
  TokenLogprobs out;
  out.logprob = logits[static_cast<std::size_t>(id)] - log_z;
  std::vector<std::int32_t> idx(logits.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::int32_t>(i);
  const std::size_t kk = std::min<std::size_t>(static_cast<std::size_t>(k), idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(kk), idx.end(), [&](std::int32_t a, std::int32_t b) {
    return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
  });
  for (std::size_t i = 0; i < kk; ++i) out.top.emplace_back(idx[i], logits[static_cast<std::size_t>(idx[i])] - log_z);
  return out;
}

}  // namespace qwen3
