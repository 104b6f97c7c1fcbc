// Sampling: greedy, repeatability, the draw distribution under every filter against transformers' exact
// probabilities, and the logprob report.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "engine/chat.hpp"
#include "engine/sampler.hpp"

namespace qwen3 {
namespace {

const std::vector<float> kLogits = {1.f, 3.f, 2.f, 0.5f, 2.9f};

// Property: temperature 0 is arg-max, whatever the seed.
TEST(Sampler, ZeroTemperatureIsGreedy) {
  for (std::uint64_t seed : {0u, 1u, 99u}) {
    Sampler s(SamplerOptions{0.f, 0, 1.f, 0.f, 1.f, 64, seed});
    EXPECT_EQ(s.sample(kLogits, {}), 1);
  }
}

// Property: top-k 1 and a tiny top-p leave only the arg-max, at any temperature.
TEST(Sampler, TopKOneAndTinyTopPAreGreedy) {
  Sampler k1(SamplerOptions{5.f, 1, 1.f, 0.f, 1.f, 64, 3});
  Sampler p0(SamplerOptions{5.f, 0, 1e-6f, 0.f, 1.f, 64, 3});
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(k1.sample(kLogits, {}), 1);
    EXPECT_EQ(p0.sample(kLogits, {}), 1);
  }
}

// Property: the same seed gives the same draws, a different seed different ones.
TEST(Sampler, SeededDrawsRepeat) {
  const SamplerOptions o{1.f, 0, 1.f, 0.f, 1.f, 64, 42};
  Sampler a(o), b(o), c(SamplerOptions{1.f, 0, 1.f, 0.f, 1.f, 64, 43});
  int differ = 0;
  for (int i = 0; i < 2000; ++i) {
    const int x = a.sample(kLogits, {});
    EXPECT_EQ(x, b.sample(kLogits, {}));
    differ += x != c.sample(kLogits, {});
  }
  EXPECT_GT(differ, 100);
}

// ---------------------------------------------------------------------------------------------------
// Draw frequencies against the exact distribution. hf_* below are transformers' logits processors
// (4.57, generation/logits_process.py) in double: RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
// TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper, applied in that order by generate() when
// sampling, then softmax. A removed token is -inf. Every test draws kDraws tokens and requires each
// id's count within 5 binomial standard deviations of kDraws * p (ids with p = 0: never drawn), and
// first checks that the wrong rules it names would miss that band by at least 10 standard deviations,
// so the logits are ones where the rules visibly differ.

constexpr int kDraws = 200000;
constexpr double kInf = std::numeric_limits<double>::infinity();
using Scores = std::vector<double>;

Scores to_double(const std::vector<float>& x) { return Scores(x.begin(), x.end()); }

// Every id of `seen` (once, whatever its count): negative logits multiplied by the penalty, others divided.
Scores hf_repetition_penalty(Scores x, const std::vector<std::int32_t>& seen, double penalty) {
  std::vector<bool> done(x.size(), false);
  for (std::int32_t id : seen) {
    if (done[static_cast<std::size_t>(id)]) continue;
    done[static_cast<std::size_t>(id)] = true;
    double& v = x[static_cast<std::size_t>(id)];
    v = v < 0 ? v * penalty : v / penalty;
  }
  return x;
}

Scores hf_temperature(Scores x, double t) {
  for (double& v : x) v /= t;
  return x;
}

// Removes every score below the k-th largest: ties with the k-th all stay.
Scores hf_top_k(Scores x, int k) {
  Scores sorted = x;
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  const double kth = sorted[static_cast<std::size_t>(std::min<std::size_t>(static_cast<std::size_t>(k), x.size()) - 1)];
  for (double& v : x)
    if (v < kth) v = -kInf;
  return x;
}

std::vector<double> softmax(const Scores& x) {
  const double mx = *std::max_element(x.begin(), x.end());
  std::vector<double> p(x.size());
  double z = 0;
  for (std::size_t i = 0; i < x.size(); ++i) z += p[i] = std::exp(x[i] - mx);
  for (double& v : p) v /= z;
  return p;
}

// Sorted ascending, removes the tokens whose cumulative probability (from the least likely up) is
// <= 1 - top_p, keeping the most likely one: the smallest most-likely set whose mass reaches top_p.
// `margin`, when given, gets the closest any cumulative sum of a live token came to 1 - top_p.
Scores hf_top_p(Scores x, double top_p, double* margin = nullptr) {
  const std::vector<double> p = softmax(x);
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  double cum = 0;
  if (margin) *margin = kInf;
  for (std::size_t r = 0; r < order.size(); ++r) {
    cum += p[order[r]];
    if (margin && x[order[r]] > -kInf) *margin = std::min(*margin, std::abs(cum - (1 - top_p)));
    if (cum <= 1 - top_p && r + 1 < order.size()) x[order[r]] = -kInf;
  }
  return x;
}

// Removes tokens with probability below min_p x the largest probability (keeping the most likely).
Scores hf_min_p(Scores x, double min_p, double* margin = nullptr) {
  const std::vector<double> p = softmax(x);
  const double top = *std::max_element(p.begin(), p.end());
  if (margin) *margin = kInf;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (margin && x[i] > -kInf) *margin = std::min(*margin, std::abs(p[i] / top - min_p));
    if (p[i] < min_p * top) x[i] = -kInf;
  }
  return x;
}

std::vector<double> uniform_over(const std::vector<double>& support) {
  std::vector<double> u(support.size());
  const double n = static_cast<double>(std::count_if(support.begin(), support.end(), [](double v) { return v > 0; }));
  for (std::size_t i = 0; i < u.size(); ++i) u[i] = support[i] > 0 ? 1 / n : 0;
  return u;
}

std::vector<std::int64_t> draw_counts(const SamplerOptions& o, const std::vector<float>& logits,
                                      const std::vector<std::int32_t>& recent = {}) {
  Sampler s(o);
  std::vector<std::int64_t> counts(logits.size(), 0);
  for (int i = 0; i < kDraws; ++i) ++counts[static_cast<std::size_t>(s.sample(logits, recent))];
  return counts;
}

// How far (in standard deviations) the counts of a sampler following `alt` would sit from the expected
// kDraws * p at the id where they differ most; the larger of the two distributions' standard deviations,
// and at least 1 (an id with p = 0 that `alt` draws 20 times is 20 away).
double separation(const std::vector<double>& p, const std::vector<double>& alt) {
  double worst = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double sd = std::max({1.0, std::sqrt(kDraws * p[i] * (1 - p[i])), std::sqrt(kDraws * alt[i] * (1 - alt[i]))});
    worst = std::max(worst, std::abs(kDraws * (alt[i] - p[i])) / sd);
  }
  return worst;
}

// Each id's count within 5 binomial standard deviations of kDraws * p; p = 0 ids never drawn.
void expect_distribution(const std::vector<std::int64_t>& counts, const std::vector<double>& p, const std::string& what) {
  ASSERT_EQ(counts.size(), p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double want = kDraws * p[i], sd = std::sqrt(kDraws * p[i] * (1 - p[i]));
    if (p[i] == 0) {
      EXPECT_EQ(counts[i], 0) << what << ": id " << i << " was filtered out but drawn";
    } else {
      EXPECT_LE(std::abs(static_cast<double>(counts[i]) - want), 5 * sd)
          << what << ": id " << i << " drawn " << counts[i] << " times, expected " << want << " +- " << sd;
    }
  }
}

void expect_separated(const std::vector<double>& p, const std::vector<double>& alt, const std::string& rule) {
  EXPECT_GE(separation(p, alt), 10.0) << "the logits do not tell the right rule from: " << rule;
}

// Property: temperature divides the logits before the softmax: p = softmax(x / T), for a sharpening
// (T = 0.7) and a flattening (T = 1.8) temperature; not softmax(x) (temperature ignored), not
// softmax(x * T) (multiplied), not uniform.
TEST(SamplerDistribution, TemperatureDividesLogits) {
  const std::vector<float> x = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -3.0f};
  for (float t : {0.7f, 1.8f}) {
    const std::string what = "temperature " + std::to_string(t);
    const auto p = softmax(hf_temperature(to_double(x), t));
    expect_separated(p, softmax(to_double(x)), what + " ignored");
    expect_separated(p, softmax(hf_temperature(to_double(x), 1.0 / t)), what + " multiplied");
    expect_separated(p, uniform_over(p), what + " uniform");
    expect_distribution(draw_counts(SamplerOptions{t, 0, 1.f, 0.f, 1.f, 64, 7}, x), p, what);
  }
}

// Property: top-k keeps the k largest logits and renormalises the softmax (at the temperature) over
// them; not the full softmax, not the top-k at temperature 1, not k-1 or k+1 tokens, not uniform.
TEST(SamplerDistribution, TopKRenormalisesOverTheKBest) {
  const std::vector<float> x = {1.0f, 3.0f, 2.2f, 0.5f, 2.9f, -1.0f, 1.8f};
  const double t = 1.5;
  const auto p = softmax(hf_top_k(hf_temperature(to_double(x), t), 3));
  expect_separated(p, softmax(hf_temperature(to_double(x), t)), "no top-k");
  expect_separated(p, softmax(hf_top_k(to_double(x), 3)), "temperature ignored");
  expect_separated(p, softmax(hf_top_k(hf_temperature(to_double(x), t), 2)), "top-(k-1)");
  expect_separated(p, softmax(hf_top_k(hf_temperature(to_double(x), t), 4)), "top-(k+1)");
  expect_separated(p, uniform_over(p), "uniform over the top k");
  expect_distribution(draw_counts(SamplerOptions{static_cast<float>(t), 3, 1.f, 0.f, 1.f, 64, 11}, x), p, "top-k 3");
}

// Property: top-k keeps every token tied with the k-th largest logit, as transformers' TopKLogitsWarper
// (`scores < kth` are removed): k = 2 on {3, 2, 2, 2, 1, 0} keeps four tokens, not two.
TEST(SamplerDistribution, TopKKeepsTiesWithTheKth) {
  const std::vector<float> x = {3.0f, 2.0f, 2.0f, 2.0f, 1.0f, 0.0f};
  const auto p = softmax(hf_top_k(to_double(x), 2));
  std::vector<double> exactly_two(x.size(), 0.0);
  exactly_two[0] = std::exp(1.0) / (std::exp(1.0) + 1), exactly_two[1] = 1 / (std::exp(1.0) + 1);
  expect_separated(p, exactly_two, "exactly k tokens, ties by lower id");
  expect_distribution(draw_counts(SamplerOptions{1.f, 2, 1.f, 0.f, 1.f, 64, 13}, x), p, "top-k 2 with ties");
}

// Property: top-p keeps the smallest set of most likely tokens whose probability (at the temperature,
// so temperature first) reaches top_p, including the token that crosses it, and renormalises: at
// T = 2, top_p 0.8 keeps 4 tokens (cumulative 0.356, 0.572, 0.740, 0.871); top-p before temperature
// would keep 3, and so would stopping before the crossing token.
TEST(SamplerDistribution, TopPAfterTemperatureKeepsTheCrossingToken) {
  const std::vector<float> x = {3.0f, 2.0f, 1.5f, 1.0f, 0.0f, -1.0f};
  const double t = 2.0, top_p = 0.8;
  double margin = 0;
  const auto p = softmax(hf_top_p(hf_temperature(to_double(x), t), top_p, &margin));
  ASSERT_GT(margin, 0.02) << "a cumulative sum sits too close to the threshold for float rounding";
  ASSERT_EQ(std::count_if(p.begin(), p.end(), [](double v) { return v > 0; }), 4);
  expect_separated(p, softmax(hf_temperature(hf_top_p(to_double(x), top_p), t)), "top-p before temperature");
  Scores first_three = hf_temperature(to_double(x), t);
  first_three[3] = first_three[4] = first_three[5] = -kInf;
  expect_separated(p, softmax(first_three), "stop before the token that crosses top_p");
  expect_separated(p, softmax(hf_temperature(to_double(x), t)), "no top-p");
  expect_distribution(draw_counts(SamplerOptions{static_cast<float>(t), 0, static_cast<float>(top_p), 0.f, 1.f, 64, 17}, x),
                      p, "top-p 0.8");
}

// Property: min-p removes tokens whose probability (at the temperature) is below min_p x the top
// probability, and renormalises: at T = 1.5, min_p 0.3 keeps 4 tokens (ratios 1, 0.77, 0.51, 0.34,
// 0.19, 0.07); min-p at temperature 1 would keep 3.
TEST(SamplerDistribution, MinPAfterTemperature) {
  const std::vector<float> x = {2.0f, 1.6f, 1.0f, 0.4f, -0.5f, -2.0f};
  const double t = 1.5, min_p = 0.3;
  double margin = 0;
  const auto p = softmax(hf_min_p(hf_temperature(to_double(x), t), min_p, &margin));
  ASSERT_GT(margin, 0.02);
  ASSERT_EQ(std::count_if(p.begin(), p.end(), [](double v) { return v > 0; }), 4);
  expect_separated(p, softmax(hf_temperature(hf_min_p(to_double(x), min_p), t)), "min-p before temperature");
  expect_separated(p, softmax(hf_temperature(to_double(x), t)), "no min-p");
  expect_separated(p, uniform_over(p), "uniform over the survivors");
  expect_distribution(draw_counts(SamplerOptions{static_cast<float>(t), 0, 1.f, static_cast<float>(min_p), 1.f, 64, 19}, x),
                      p, "min-p 0.3");
}

// Property: with all filters on, the order is temperature -> top-k -> top-p (over the top-k survivors,
// renormalised) -> min-p. These logits tell that order from top-p before top-k, min-p before top-p,
// and filtering before the temperature.
TEST(SamplerDistribution, FiltersApplyInTransformersOrder) {
  const std::vector<float> x = {-1.0f, 1.5f, 0.0f, 0.1f, -1.6f, -1.8f, -1.3f, -0.2f, -1.1f};
  const double t = 1.3, top_p = 0.6, min_p = 0.3;
  const int k = 4;
  double m1 = 0, m2 = 0;
  const auto p = softmax(hf_min_p(hf_top_p(hf_top_k(hf_temperature(to_double(x), t), k), top_p, &m1), min_p, &m2));
  ASSERT_GT(std::min(m1, m2), 0.02);
  const Scores xt = hf_temperature(to_double(x), t);
  expect_separated(p, softmax(hf_min_p(hf_top_k(hf_top_p(xt, top_p), k), min_p)), "top-p before top-k");
  expect_separated(p, softmax(hf_top_p(hf_min_p(hf_top_k(xt, k), min_p), top_p)), "min-p before top-p");
  expect_separated(p, softmax(hf_temperature(hf_min_p(hf_top_p(hf_top_k(to_double(x), k), top_p), min_p), t)),
                   "filters before temperature");
  expect_distribution(
      draw_counts(SamplerOptions{static_cast<float>(t), k, static_cast<float>(top_p), static_cast<float>(min_p), 1.f, 64, 23}, x),
      p, "all filters");
}

// Property: the repetition penalty (transformers' rule) divides the positive logits of seen tokens and
// MULTIPLIES the negative ones (both less likely), leaves 0 at 0, counts a token seen twice once, and
// applies before the temperature and top-k: here it pushes id 0 out of the top 2. Dividing negative
// logits (which would make id 2 more likely) and no penalty are both told apart.
TEST(SamplerDistribution, RepetitionPenaltyMultipliesNegativeLogits) {
  const std::vector<float> x = {2.0f, 1.5f, -0.5f, -1.0f, 0.3f, 0.0f, 1.4f};
  const std::vector<std::int32_t> recent = {2, 0, 2, 5};
  const double penalty = 1.5;
  {
    const auto p = softmax(hf_repetition_penalty(to_double(x), recent, penalty));
    Scores divided = to_double(x);
    divided[0] /= penalty, divided[2] /= penalty;
    expect_separated(p, softmax(divided), "negative logits divided");
    expect_separated(p, softmax(to_double(x)), "no penalty");
    expect_distribution(draw_counts(SamplerOptions{1.f, 0, 1.f, 0.f, static_cast<float>(penalty), 64, 29}, x, recent), p,
                        "penalty 1.5");
  }
  {
    const double t = 0.8;
    const auto p = softmax(hf_top_k(hf_temperature(hf_repetition_penalty(to_double(x), recent, penalty), t), 2));
    expect_separated(p, softmax(hf_repetition_penalty(hf_top_k(hf_temperature(to_double(x), t), 2), recent, penalty)),
                     "penalty after top-k");
    expect_distribution(draw_counts(SamplerOptions{static_cast<float>(t), 2, 1.f, 0.f, static_cast<float>(penalty), 64, 31}, x, recent),
                        p, "penalty 1.5, T 0.8, top-k 2");
  }
}

// Property: by default (repeat_last_n -1) the whole history is penalised, as transformers'
// RepetitionPenaltyLogitsProcessor does over all of input_ids.
TEST(SamplerDistribution, RepetitionPenaltyCoversTheWholeHistoryByDefault) {
  const std::vector<float> x = {2.0f, 1.5f, -0.5f, -1.0f, 0.3f, 0.0f, 1.4f};
  std::vector<std::int32_t> recent = {1, 6};
  recent.insert(recent.end(), 100, 2);  // ids 1 and 6 lie 100 tokens back
  const double penalty = 1.5;
  const auto p = softmax(hf_repetition_penalty(to_double(x), recent, penalty));
  expect_separated(p, softmax(hf_repetition_penalty(to_double(x), {2}, penalty)), "only the last 64 penalised");
  SamplerOptions opt{1.f, 0, 1.f, 0.f, static_cast<float>(penalty), SamplerOptions{}.repeat_last_n, 41};
  EXPECT_EQ(opt.repeat_last_n, -1);
  expect_distribution(draw_counts(opt, x, recent), p, "default window");
}

// Property: with repeat_last_n N, only the last N tokens of `recent` are penalised (llama.cpp's
// --repeat-last-n).
TEST(SamplerDistribution, RepetitionPenaltyWindow) {
  const std::vector<float> x = {2.0f, 1.5f, -0.5f, -1.0f, 0.3f, 0.0f, 1.4f};
  const std::vector<std::int32_t> recent = {1, 6, 2, 0, 2, 5};
  const double penalty = 1.5;
  const auto p = softmax(hf_repetition_penalty(to_double(x), {2, 0, 2, 5}, penalty));
  expect_separated(p, softmax(hf_repetition_penalty(to_double(x), recent, penalty)), "the whole history penalised");
  expect_distribution(draw_counts(SamplerOptions{1.f, 0, 1.f, 0.f, static_cast<float>(penalty), 4, 37}, x, recent), p,
                      "repeat_last_n 4");
}

// Property: greedy decoding sees the penalty too, including on negative logits: -1.0 x 1.5 = -1.5
// falls below -1.2, so the arg-max moves to id 1 (dividing would give -0.67 and keep id 0).
TEST(Sampler, RepeatPenaltyOnNegativeLogitsUnderGreedy) {
  const std::vector<float> x = {-1.0f, -1.2f, -3.0f};
  Sampler s(SamplerOptions{0.f, 0, 1.f, 0.f, 1.5f, 64, 0});
  const std::vector<std::int32_t> seen = {0};
  EXPECT_EQ(s.sample(x, seen), 1);
  EXPECT_EQ(s.sample(x, {}), 0);
}

// Property: logprobs are log-softmax over all logits, and top-k is sorted and contains the chosen id's value.
TEST(TokenLogprobs, LogSoftmaxAndTop) {
  const TokenLogprobs lp = token_logprobs(kLogits, 2, 3);
  double z = 0;
  for (float x : kLogits) z += std::exp(x);
  EXPECT_NEAR(lp.logprob, 2.0 - std::log(z), 1e-6);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 1);
  EXPECT_EQ(lp.top[1].first, 4);
  EXPECT_EQ(lp.top[2].first, 2);
  EXPECT_NEAR(lp.top[2].second, lp.logprob, 1e-12);
}

// Property: the chat turn is Qwen3's ChatML, byte for byte as the official template renders it.
TEST(ChatTemplate, MatchesQwen3Template) {
  EXPECT_EQ(chat_turn("hi", false, false), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chat_turn("hi", true, true),
            "<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

}  // namespace
}  // namespace qwen3
