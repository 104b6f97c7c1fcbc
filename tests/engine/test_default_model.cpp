// The shipped default model against its transformers referee: perplexity of the evaluator (default
// options: bf16 KV cache, either attention path) on held-out text within 0.5 % of transformers run in
// fp32 on the same bf16 weights (tests/data/eval/README.md says how the reference was made).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/evaluate.hpp"
#include "engine/loaded_model.hpp"
#include "kernels/dispatch.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

const std::filesystem::path kModel = test::data_dir() / ".." / ".." / "models" / "qwen3-gutenberg-11m";

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DefaultModel : public ::testing::TestWithParam<AttentionKind> {};

// Property: ppl and accuracy over the excerpt match transformers (0.5 % on ppl; accuracy within one
// token's worth of flips, since bf16 K/V can swap near-tied arg-maxes).
TEST_P(DefaultModel, PerplexityMatchesTransformersWithinHalfPercent) {
  const auto ref = nlohmann::json::parse(read_file(test::data_dir() / "eval" / "qwen3-gutenberg-11m-reference.json"));
  const auto& kt = kernels::with_onednn_gemm(kernels::select_kernels(kernels::KernelChoice::Auto, kernels::detect_cpu_features()));
  LoadedModel lm = load_model(kModel, kt, GetParam());
  const auto ids = lm.require_tokenizer().encode(read_file(test::data_dir() / "eval" / "crime-and-punishment-excerpt.txt"));
  ASSERT_EQ(static_cast<std::int64_t>(ids.size()), ref["tokens"].get<std::int64_t>()) << "tokenizer disagrees with the reference";
  EvalOptions opt;
  opt.kv_type = KvType::BF16;  // --kv-type auto for a bf16 checkpoint
  const EvalResult r = evaluate(*lm.model, ids, opt);
  const double want = ref["ppl"].get<double>();
  std::printf("ppl %.4f vs transformers %.4f (%.3f %%)\n", r.ppl, want, 100 * (r.ppl / want - 1));
  EXPECT_NEAR(r.ppl, want, 0.005 * want);
  EXPECT_NEAR(r.accuracy, ref["accuracy"].get<double>(), 1.5 / static_cast<double>(r.scored));
}

INSTANTIATE_TEST_SUITE_P(BothPaths, DefaultModel, ::testing::Values(AttentionKind::Standard, AttentionKind::Streaming),
                         [](const auto& info) { return std::string(attention_kind_name(info.param)); });

}  // namespace
}  // namespace qwen3
