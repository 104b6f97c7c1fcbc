// Sink-window against the outside referee: transformers 4.52.4's SinkCache (with its off-by-one
// fixed: scripts/make_sink_fixtures.py) on the shipped default model, 512 tokens of a held-out book
// fed one at a time through a cache of 64 tokens, for 4 sinks + 60 recent and 0 sinks + 64 recent.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/loaded_model.hpp"
#include "engine/session.hpp"
#include "engine/threads.hpp"
#include "kernels/dispatch.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

const std::filesystem::path kModel = test::data_dir() / ".." / ".." / "models" / "qwen3-gutenberg-11m";

// log p(ids[t+1] | ids[..t]) for every t, feeding one token at a time under `policy` (f32 KV cache).
std::vector<double> stream_logprobs(Qwen3Model& model, const std::vector<std::int32_t>& ids, const KvPolicyOptions& policy) {
  Session s(model, model.new_cache(KvType::F32, 16, static_cast<std::int64_t>(ids.size())), policy, 1);
  std::vector<double> out;
  for (std::size_t t = 0; t + 1 < ids.size(); ++t) {
    const auto logits = s.feed(std::span<const std::int32_t>(&ids[t], 1));
    const float mx = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (float x : logits) z += std::exp(static_cast<double>(x) - mx);
    out.push_back(logits[static_cast<std::size_t>(ids[t + 1])] - mx - std::log(z));
  }
  return out;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::isfinite(a[i]) ? std::abs(a[i] - b[i]) : INFINITY);
  return d;
}

// Property: per-token logprobs of sink-window (and of full) match transformers within 1e-4 at every
// one of the 511 positions, on both attention paths. Why 1e-4: transformers runs f32 on the same bf16
// weights and differs from us only in summation order; measured here, full differs by up to 1.8e-5
// and sink-window by up to 6.6e-6 (2.1e-5 and 6.9e-6 with the previous default model), so 1e-4
// leaves a 5x margin. With the sinks left at their text positions (no re-rotation) sink4_window60
// missed by 0.64 on the previous default model; SinkCache's stock off-by-one misses by 0.36.
TEST(StreamingReference, SinkWindowMatchesTransformersSinkCache) {
  // One thread: a 11 M-parameter model fed one token at a time spends more on waking a team than on
  // the work (and ctest runs tests with passive OpenMP waiting).
  set_thread_count(1);
  const auto& kt = kernels::select_kernels(kernels::KernelChoice::Auto, kernels::detect_cpu_features());
  for (const char* name : {"sink4_window60.json", "sink0_window64.json"}) {
    std::ifstream in(test::data_dir() / "eval" / "streaming" / name);
    const nlohmann::json ref = nlohmann::json::parse(in);
    const auto ids = ref["ids"].get<std::vector<std::int32_t>>();
    const auto want = ref["logprobs_fixed"].get<std::vector<double>>();
    const auto want_full = ref["full_logprobs"].get<std::vector<double>>();
    for (AttentionKind attention : {AttentionKind::Standard, AttentionKind::Streaming}) {
      LoadedModel lm = load_model(kModel, kt, attention);
      const KvPolicyOptions sink_window{KvPolicyKind::SinkWindow, ref["sink"].get<std::int64_t>(), ref["window"].get<std::int64_t>(), 1, 0};
      const double d_sink = max_abs_diff(stream_logprobs(*lm.model, ids, sink_window), want);
      std::printf("%s, %s: max |logprob - transformers| sink-window %.3g (tolerance 1e-4)\n", name,
                  std::string(attention_kind_name(attention)).c_str(), d_sink);
      EXPECT_LE(d_sink, 1e-4) << name;
      if (attention == AttentionKind::Streaming) {  // the referee's own baseline, once
        const double d_full = max_abs_diff(stream_logprobs(*lm.model, ids, {}), want_full);
        std::printf("%s: max |logprob - transformers| full %.3g (tolerance 1e-4)\n", name, d_full);
        EXPECT_LE(d_full, 1e-4) << name;
      }
    }
  }
}

}  // namespace
}  // namespace qwen3
