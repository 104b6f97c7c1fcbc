#include "engine/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

// Higher logit first; equal logits by lower id, so the order does not depend on how the vocabulary
// was split or gathered.
bool ranks_before(const std::pair<float, std::int32_t>& a, const std::pair<float, std::int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// The k best of `c` (all of them for k <= 0), best first.
void keep_best(std::vector<std::pair<float, std::int32_t>>& c, std::int32_t k) {
  const std::size_t keep = k > 0 ? std::min(c.size(), static_cast<std::size_t>(k)) : c.size();
  std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(keep), c.end(), ranks_before);
  c.resize(keep);
}

// (value, id) pairs as floats for a gather: ids below 2^24 are exact in a float.
std::vector<float> pack(const std::vector<std::pair<float, std::int32_t>>& c) {
  std::vector<float> out;
  out.reserve(2 * c.size());
  for (const auto& [v, id] : c) {
    if (id >= (1 << 24)) throw Error("vocabulary rows beyond 2^24 cannot be gathered as float pairs");
    out.push_back(v);
    out.push_back(static_cast<float>(id));
  }
  return out;
}

std::vector<std::pair<float, std::int32_t>> unpack(const std::vector<float>& packed) {
  std::vector<std::pair<float, std::int32_t>> out(packed.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = {packed[2 * i], static_cast<std::int32_t>(packed[2 * i + 1])};
  return out;
}

// Sampling's top-k, as transformers' TopKLogitsWarper: the k best and every candidate tied with the
// k-th (it removes only `scores < kth`), best first; all of them for k <= 0. Each rank keeping its own
// ties is enough for the global cut: a rank's k-th value is at most the global one.
void keep_top_k_with_ties(std::vector<std::pair<float, std::int32_t>>& c, std::int32_t k) {
  if (k <= 0 || c.size() <= static_cast<std::size_t>(k)) return keep_best(c, k);
  const auto kth = c.begin() + (k - 1);
  std::partial_sort(c.begin(), kth + 1, c.end(), ranks_before);
  const float cut = kth->first;
  const auto tied_end = std::partition(kth + 1, c.end(), [cut](const auto& x) { return x.first == cut; });
  std::sort(kth + 1, tied_end, ranks_before);
  c.erase(tied_end, c.end());
}

std::vector<std::pair<float, std::int32_t>> scaled(LogitsSlice logits, float scale) {
  std::vector<std::pair<float, std::int32_t>> c(logits.values.size());
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = {logits.values[i] * scale, static_cast<std::int32_t>(logits.offset + static_cast<std::int64_t>(i))};
  return c;
}

std::vector<std::pair<float, std::int32_t>> best_of(LogitsSlice logits, int k, float scale) {
  auto c = scaled(logits, scale);
  keep_best(c, k);
  return c;
}

}  // namespace

std::int32_t argmax(std::span<const float> logits) {
  return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::int32_t Sampler::sample(LogitsSlice logits, std::span<const std::int32_t> recent, Communicator& comm) {
  scratch_.assign(logits.values.begin(), logits.values.end());
  const auto n_local = static_cast<std::int64_t>(scratch_.size());
  if (opt_.repeat_penalty != 1.f) {
    const std::size_t n = opt_.repeat_last_n < 0 ? recent.size()
                                                 : std::min<std::size_t>(recent.size(), static_cast<std::size_t>(opt_.repeat_last_n));
    std::vector<std::int32_t> seen(recent.end() - static_cast<std::ptrdiff_t>(n), recent.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (std::int32_t id : seen) {
      if (id < logits.offset || id >= logits.offset + n_local) continue;  // another rank's row
      float& x = scratch_[static_cast<std::size_t>(id - logits.offset)];
      x = x > 0 ? x / opt_.repeat_penalty : x * opt_.repeat_penalty;
    }
  }
  if (opt_.temperature <= 0.f) {
    float best[1] = {-std::numeric_limits<float>::infinity()};
    std::int32_t at[1] = {static_cast<std::int32_t>(logits.offset) + argmax(scratch_)};
    if (n_local > 0) best[0] = scratch_[static_cast<std::size_t>(at[0] - logits.offset)];
    comm.argmax(best, at);
    return at[0];
  }
  auto local = scaled(LogitsSlice{scratch_, logits.offset}, 1.f / opt_.temperature);
  keep_top_k_with_ties(local, opt_.top_k);
  std::int32_t id[1] = {0};
  std::vector<float> gathered = comm.gather(pack(local), 0);
  if (comm.rank() == 0) id[0] = draw(std::move(gathered));
  comm.broadcast(id, 0);
  return id[0];
}

// On rank 0: the global candidates (logit / temperature, id) -> top-k -> top-p -> min-p -> draw.
std::int32_t Sampler::draw(std::vector<float> gathered) {
  candidates_ = unpack(gathered);
  keep_top_k_with_ties(candidates_, opt_.top_k);
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

std::vector<RowScore> score_rows(std::span<const float> logits, std::int64_t offset, std::span<const std::int32_t> targets,
                                 Communicator& comm) {
  const std::size_t rows = targets.size();
  if (rows == 0) return {};
  const std::size_t width = logits.size() / rows;
  std::vector<float> mx(rows, -std::numeric_limits<float>::infinity());
  std::vector<std::int32_t> best(rows, static_cast<std::int32_t>(offset));
  for (std::size_t r = 0; r < rows && width > 0; ++r) {
    const std::span<const float> row = logits.subspan(r * width, width);
    best[r] = static_cast<std::int32_t>(offset) + argmax(row);
    mx[r] = row[static_cast<std::size_t>(best[r] - offset)];
  }
  comm.argmax(mx, best);
  std::vector<double> z(rows, 0.0);
  std::vector<float> parts(2 * rows, 0.f);  // [sum of exp, target logit] per row: each rank adds its part
  for (std::size_t r = 0; r < rows; ++r) {
    const std::span<const float> row = logits.subspan(r * width, width);
    for (float x : row) z[r] += std::exp(static_cast<double>(x) - mx[r]);
    parts[2 * r] = static_cast<float>(z[r]);
    const std::int64_t t = targets[r] - offset;
    if (t >= 0 && t < static_cast<std::int64_t>(width)) parts[2 * r + 1] = row[static_cast<std::size_t>(t)];
  }
  comm.allreduce_sum(parts);
  std::vector<RowScore> out(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const double sum = comm.size() == 1 ? z[r] : parts[2 * r];  // one process keeps the double sum
    out[r].log_z = mx[r] + std::log(sum);
    out[r].logprob = parts[2 * r + 1] - out[r].log_z;
    out[r].argmax = best[r];
  }
  return out;
}

TokenLogprobs token_logprobs(LogitsSlice logits, std::int32_t id, int k, Communicator& comm) {
  const RowScore s = score_rows(logits.values, logits.offset, std::span<const std::int32_t>(&id, 1), comm)[0];
  const double log_z = s.log_z;
  TokenLogprobs out;
  out.logprob = s.logprob;
  if (k <= 0) return out;
  auto best = unpack(comm.gather(pack(best_of(logits, k, 1.f)), 0));
  if (comm.rank() != 0) return out;
  keep_best(best, k);
  for (const auto& [v, i] : best) out.top.emplace_back(i, v - log_z);
  return out;
}

}  // namespace qwen3
