// Whole-model check that the two attention paths are interchangeable: the same prompt through
// tiny-gqa4 gives logits within 1e-5 (max-abs; logits are O(1)) on both paths, for prompt lengths
// that are and are not multiples of the 64-token KV block, fed in one piece or in chunks.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "engine/loaded_model.hpp"
#include "engine/session.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

std::vector<float> all_logits(AttentionKind kind, const std::vector<std::int32_t>& ids, std::int64_t chunk) {
  LoadedModel lm = load_model(test::model_dir("tiny-gqa4"), kernels::scalar_kernels(), kind);
  Session s(*lm.model, KvCache(lm.model->kv_shape(KvType::F32, 64), 2048), chunk);
  return s.feed_all_logits(ids);
}

class AttentionPaths : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(AttentionPaths, StreamingEqualsStandardWithin1e5) {
  const std::int64_t n = GetParam();
  std::mt19937 rng(static_cast<std::uint32_t>(n));
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (auto& id : ids) id = static_cast<std::int32_t>(rng() % 384);
  const auto standard = all_logits(AttentionKind::Standard, ids, 256);
  const auto streaming = all_logits(AttentionKind::Streaming, ids, 256);
  EXPECT_LE(test::max_abs_diff(standard.data(), streaming.data(), standard.size()), 1e-5f);
  // Chunked prefill (37 tokens per forward) attends to earlier chunks through the cache.
  const auto chunked = all_logits(AttentionKind::Streaming, ids, 37);
  EXPECT_LE(test::max_abs_diff(standard.data(), chunked.data(), standard.size()), 1e-5f);
}

INSTANTIATE_TEST_SUITE_P(PromptLengths, AttentionPaths, ::testing::Values(1, 63, 64, 65, 1000));

}  // namespace
}  // namespace qwen3
