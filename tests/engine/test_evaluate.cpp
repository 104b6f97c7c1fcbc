// The evaluator against transformers: perplexity over the fixture prompt computed from the saved
// transformers logits must equal ours (both protocols are exact for a prompt this short).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/evaluate.hpp"
#include "engine/loaded_model.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

// Perplexity and accuracy of predicting prompt[t+1] from reference logits row t, t in [from, T-1).
std::pair<double, double> reference_ppl(const std::vector<float>& logits, const std::vector<std::int32_t>& ids, std::int64_t V,
                                        std::size_t from) {
  double nll = 0;
  int correct = 0, n = 0;
  for (std::size_t t = from; t + 1 < ids.size(); ++t) {
    const float* row = logits.data() + t * static_cast<std::size_t>(V);
    double mx = row[0], z = 0;
    std::int32_t best = 0;
    for (std::int64_t v = 0; v < V; ++v)
      if (row[v] > mx) mx = row[v], best = static_cast<std::int32_t>(v);
    for (std::int64_t v = 0; v < V; ++v) z += std::exp(row[v] - mx);
    nll += mx + std::log(z) - row[ids[t + 1]];
    correct += best == ids[t + 1];
    ++n;
  }
  return {std::exp(nll / n), static_cast<double>(correct) / n};
}

// Property: the streaming protocol scores the 73 predictions of the 74-token prompt with the same
// perplexity transformers' logits give (relative 1e-5; logits agree to ~3e-6), and windows partition them.
TEST(Evaluate, StreamingProtocolMatchesTransformers) {
  const auto dir = test::model_dir("tiny-gqa4");
  LoadedModel lm = load_model(dir, kernels::scalar_kernels(), AttentionKind::Streaming);
  const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  const auto ids = test::read_tensor<std::int32_t>(ref, "prompt_ids");
  const auto logits = test::read_tensor<float>(ref, "prefill_logits");
  const auto [ppl, acc] = reference_ppl(logits, ids, lm.config.vocab_size, 0);
  EvalOptions opt;
  opt.window = 20;
  const EvalResult r = evaluate(*lm.model, ids, opt);
  EXPECT_EQ(r.scored, static_cast<std::int64_t>(ids.size()) - 1);
  EXPECT_NEAR(r.ppl, ppl, 1e-5 * ppl);
  EXPECT_DOUBLE_EQ(r.accuracy, acc);
  ASSERT_EQ(r.windows.size(), 4u);  // 73 predictions in windows of 20
  EXPECT_EQ(r.windows.front().start, 1);
  EXPECT_EQ(r.windows.back().end, static_cast<std::int64_t>(ids.size()));
  EXPECT_GT(r.peak_kv_bytes, 0u);
}

// Property: the chunked protocol with one chunk of the whole prompt scores its second half only,
// matching transformers' logits over the same positions.
TEST(Evaluate, ChunkedProtocolScoresSecondHalf) {
  const auto dir = test::model_dir("tiny-gqa4");
  LoadedModel lm = load_model(dir, kernels::scalar_kernels(), AttentionKind::Standard);
  const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  const auto ids = test::read_tensor<std::int32_t>(ref, "prompt_ids");
  const auto logits = test::read_tensor<float>(ref, "prefill_logits");
  EvalOptions opt;
  opt.chunk = static_cast<std::int64_t>(ids.size());
  const EvalResult r = evaluate(*lm.model, ids, opt);
  const auto [ppl, acc] = reference_ppl(logits, ids, lm.config.vocab_size, ids.size() / 2);
  EXPECT_EQ(r.scored, static_cast<std::int64_t>(ids.size() - ids.size() / 2 - 1));
  EXPECT_NEAR(r.ppl, ppl, 1e-5 * ppl);
}

}  // namespace
}  // namespace qwen3
