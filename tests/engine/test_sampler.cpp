// Sampling: greedy, filters, repeatability, and the logprob report.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
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

// Property: the same seed gives the same draws; top-k 2 only ever draws ids 1 or 4; and the draw
// frequencies follow the softmax (id 1 slightly more often than id 4).
TEST(Sampler, SeededAndRestrictedByTopK) {
  Sampler a(SamplerOptions{1.f, 2, 1.f, 0.f, 1.f, 64, 42}), b(SamplerOptions{1.f, 2, 1.f, 0.f, 1.f, 64, 42});
  std::map<int, int> counts;
  for (int i = 0; i < 4000; ++i) {
    const int x = a.sample(kLogits, {});
    EXPECT_EQ(x, b.sample(kLogits, {}));
    ++counts[x];
  }
  EXPECT_EQ(counts.size(), 2u);
  const double p1 = std::exp(3.0) / (std::exp(3.0) + std::exp(2.9));
  EXPECT_NEAR(counts[1] / 4000.0, p1, 0.03);
}

// Property: the repetition penalty divides positive logits of seen tokens, flipping the arg-max here.
TEST(Sampler, RepeatPenaltyDemotesSeenTokens) {
  Sampler s(SamplerOptions{0.f, 0, 1.f, 0.f, 1.5f, 64, 0});
  const std::vector<std::int32_t> seen = {1};
  EXPECT_EQ(s.sample(kLogits, seen), 4);
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
