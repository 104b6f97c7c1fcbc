// Eviction policies through the model: a budget that covers the whole stream changes nothing, and
// sink-window attends with StreamingLLM's positions (each kept token at its index in the cache).
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "attention/attention.hpp"
#include "engine/loaded_model.hpp"
#include "engine/session.hpp"
#include "kernels/dispatch.hpp"
#include "model/ops.hpp"
#include "attention_problem.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

// Property: with a budget at least the stream's length nothing is evicted, and every bounded policy
// gives exactly (bit for bit) the logits of `full`, token by token, on both attention paths, with an
// f32 and a q8 KV cache.
TEST(KvPolicies, BudgetCoveringTheStreamEqualsFull) {
  const auto dir = test::model_dir("tiny-gqa4");
  const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  const auto ids = test::read_tensor<std::int32_t>(ref, "prompt_ids");
  const auto& kt = kernels::select_kernels(kernels::KernelChoice::Auto, kernels::detect_cpu_features());
  for (AttentionKind attention : {AttentionKind::Standard, AttentionKind::Streaming}) {
    LoadedModel lm = load_model(dir, kt, attention);
    for (KvType kv : {KvType::F32, KvType::Q8}) {
      auto stream = [&](const KvPolicyOptions& policy) {
        Session s(*lm.model, lm.model->new_cache(kv, 8, 512), policy, 1);
        return s.feed_all_logits(ids);
      };
      const auto full = stream({});
      for (KvPolicyKind kind : {KvPolicyKind::SinkWindow, KvPolicyKind::Window, KvPolicyKind::L2, KvPolicyKind::H2O, KvPolicyKind::Random})
        EXPECT_EQ(stream({kind, 4, 80, 1, 5}), full) << kv_policy_name(kind) << " " << attention_kind_name(attention) << " kv " << kv_type_name(kv);
    }
  }
}

void sink_window_at_cache_index_positions(KvType kv, float tol) {
  const std::int64_t d = 8, sinks = 3, window = 8;
  const double theta = 10000.0;
  const KvCacheShape shape{1, 1, d, 4, kv};
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  auto random_rows = [&](std::int64_t n) {
    std::vector<float> r(static_cast<std::size_t>(n));
    for (float& x : r) x = nd(rng);
    return r;
  };
  for (std::int32_t start : {0, 30000}) {  // text positions of the stream's first token
    const std::int64_t T = 40;
    const auto k_raw = random_rows(T * d), v = random_rows(T * d), q_raw = random_rows(2 * d);
    auto rotated = [&](const float* rows, std::int64_t n_heads, std::int32_t pos) {
      std::vector<float> r(rows, rows + n_heads * d);
      const std::int32_t p[1] = {pos};
      ops::apply_rope(r.data(), 1, n_heads, ops::rotary_table(p, d, theta));
      return r;
    };
    // Ours: through the policy, keys rotated at their text positions as the model stores them.
    KvEvictionPolicy policy({KvPolicyKind::SinkWindow, sinks, window, 1, 0});
    KvCache cache(shape, policy.budget());
    for (std::int64_t t = 0; t < T; ++t) {
      policy.make_room(cache, 1);
      const std::int32_t pos[1] = {start + static_cast<std::int32_t>(t)};
      const auto slots = cache.append(pos);
      cache.store(0, slots, rotated(k_raw.data() + t * d, 1, pos[0]).data(), v.data() + t * d);
      if (cache.sinks_stale(0)) ops::rotate_sink_keys(cache, 0, plain_rope(d, theta));
    }
    // The paper's: the kept tokens (sinks, then the window) at cache indices 0 .. budget-1.
    std::vector<std::int64_t> kept(static_cast<std::size_t>(sinks));
    std::iota(kept.begin(), kept.end(), 0);
    for (std::int64_t t = T - window; t < T; ++t) kept.push_back(t);
    KvCache reindexed(shape, policy.budget());
    for (std::size_t i = 0; i < kept.size(); ++i) {
      const std::int32_t pos[1] = {static_cast<std::int32_t>(i)};
      const auto slots = reindexed.append(pos);
      reindexed.store(0, slots, rotated(k_raw.data() + kept[i] * d, 1, pos[0]).data(), v.data() + kept[i] * d);
    }
    for (AttentionKind kind : {AttentionKind::Standard, AttentionKind::Streaming}) {
      auto attend = [&](const KvCache& c, std::int32_t qpos) {
        const auto q = rotated(q_raw.data(), 2, qpos);
        std::vector<float> out(static_cast<std::size_t>(2 * d));
        const std::int32_t positions[1] = {qpos};
        attention(kind, test::attention_problem(kernels::scalar_kernels(), 2, 1, d, q.data(), positions, c, out.data()));
        return out;
      };
      const auto ours = attend(cache, start + static_cast<std::int32_t>(T - 1));
      const auto paper = attend(reindexed, static_cast<std::int32_t>(kept.size() - 1));
      const float diff = test::max_abs_diff(ours.data(), paper.data(), ours.size());
      EXPECT_LE(diff, tol) << attention_kind_name(kind) << ", stream starting at position " << start << ", kv " << kv_type_name(kv);
      std::printf("kv %s, %s, start %d: max |ours - paper| = %.3g\n", std::string(kv_type_name(kv)).c_str(),
                  std::string(attention_kind_name(kind)).c_str(), start, static_cast<double>(diff));
    }
  }
}

// Property: after the window has slid, sink-window attention over the cache (keys stored at their text
// positions, sinks re-rotated by the shift, the query at its text position) equals attention where
// every kept token, and the query, sit at their index in the cache -- the paper's definition -- on
// both paths, 30,000 positions in (past any f32-angle precision). With a q8 cache the sinks are
// re-rotated from their exact f32 copies and quantized again, so they carry one rounding, as the
// paper's keys do: within 2e-2 (a key rotated at two positions may round to a neighbouring int8).
TEST(KvPolicies, SinkWindowAttendsAtCacheIndexPositions) {
  for (KvType kv : {KvType::F32, KvType::Q8}) sink_window_at_cache_index_positions(kv, kv == KvType::Q8 ? 2e-2f : 1e-5f);
}

}  // namespace
}  // namespace qwen3
