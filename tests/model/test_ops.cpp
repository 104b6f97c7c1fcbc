// Whole-tensor operations (src/model/ops.cpp) as the forward pass calls them.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/onednn/gemm.hpp"
#include "model/ops.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

// Property: where oneDNN refuses a prefill shape, linear() still gives the right product (on the
// table's own tiles): the scalar reference within 1e-5 + 1e-5*|ref|, no value left unwritten.
TEST(Linear, RefusedOneDnnShapeGivesNativeProduct) {
  const kernels::KernelTable& k = kernels::with_onednn_gemm(*test::host_kernel_tables().back());
  if (!k.gemm) GTEST_SKIP() << "requires onednn: oneDNN cannot run here: " << kernels::onednn_capabilities().failure;
  const std::int64_t rows = 51, cols = 90, tokens = 40;  // prefill-sized, and a shape no other test uses
  const auto wf = test::random_floats(static_cast<std::size_t>(rows * cols), 91, 0.05f);
  const auto x = test::random_floats(static_cast<std::size_t>(tokens * cols), 92);
  const kernels::MatrixView w{wf.data(), DType::F32, rows, cols, cols};
  std::vector<float> want(static_cast<std::size_t>(tokens * rows)), got(want.size(), std::nanf(""));
  kernels::scalar_kernels().matmul(w, x.data(), cols, tokens, want.data(), rows, 0, rows);
  kernels::onednn_refuse_new_shapes_for_testing(true);
  ::testing::internal::CaptureStderr();
  ops::linear(k, w, x.data(), tokens, got.data());
  const std::string err = ::testing::internal::GetCapturedStderr();
  kernels::onednn_refuse_new_shapes_for_testing(false);
  EXPECT_NE(err.find("note: oneDNN has no f32 matmul for 40 x 51 x 90"), std::string::npos) << err;
  EXPECT_LE(test::worst_excess(got, want), 0.f);
}

// Property: linear() on bf16 weights with a table that has the bf16 row kernel multiplies the
// activations rounded to bf16 (the scalar referee on rounded activations within 1e-5 + 1e-5*|ref|,
// and farther than that from the f32 product), for decode-sized token counts; f32 weights stay f32.
TEST(Linear, Bf16RowsMultiplyBf16RoundedActivations) {
  const kernels::KernelTable& k = kernels::with_bf16_rows(*test::host_kernel_tables().back());
  if (!k.matmul_bf16) GTEST_SKIP() << "requires avx512_bf16: no bf16 row kernel here (" << kernels::detect_cpu_features().describe() << ")";
  const std::int64_t rows = 70, cols = 300, tokens = 9;
  const auto wf = test::random_floats(static_cast<std::size_t>(rows * cols), 93, 0.05f);
  const auto x = test::random_floats(static_cast<std::size_t>(tokens * cols), 94);
  std::vector<std::uint16_t> w16(wf.size()), x16(x.size());
  for (std::size_t i = 0; i < wf.size(); ++i) w16[i] = kernels::f32_to_bf16(wf[i]);
  for (std::size_t i = 0; i < x.size(); ++i) x16[i] = kernels::f32_to_bf16(x[i]);
  const kernels::MatrixView w{w16.data(), DType::BF16, rows, cols, cols};
  std::vector<float> rounded(static_cast<std::size_t>(tokens * rows)), exact(rounded.size()), got(rounded.size(), std::nanf(""));
  kernels::scalar_matmul_bf16(w, x16.data(), cols, tokens, rounded.data(), rows, 0, rows);
  kernels::scalar_kernels().matmul(w, x.data(), cols, tokens, exact.data(), rows, 0, rows);
  ops::linear(k, w, x.data(), tokens, got.data());
  EXPECT_LE(test::worst_excess(got, rounded), 0.f);
  EXPECT_GT(test::worst_excess(got, exact), 0.f) << "the activations were not rounded: the test would not see the path";
  const kernels::MatrixView wf32{wf.data(), DType::F32, rows, cols, cols};
  kernels::scalar_kernels().matmul(wf32, x.data(), cols, tokens, exact.data(), rows, 0, rows);
  ops::linear(k, wf32, x.data(), tokens, got.data());
  EXPECT_LE(test::worst_excess(got, exact), 0.f);
}

// Property: the router picks each token's top_k experts by softmax probability (the lower expert on
// a tie), lists each expert's tokens in token order, and weighs them by the softmax probability, or
// by it renormalised over the chosen experts when asked (transformers' norm_topk_prob).
TEST(Routing, TopExpertsBySoftmaxWithOptionalRenormalisation) {
  // Token 0: logits favour expert 2 then 0; token 1: experts 1 and 3 tie at the top.
  const std::vector<float> logits = {1.f, 0.f, 2.f, -1.f, 0.f, 3.f, 0.f, 3.f};
  const ops::Routing plain = ops::route_tokens(logits, 2, 4, 2, false);
  const double z0 = std::exp(1.0) + 1 + std::exp(2.0) + std::exp(-1.0);
  ASSERT_EQ(plain.rows_of_expert[2].size(), 1u);
  EXPECT_EQ(plain.rows_of_expert[2][0].token, 0);
  EXPECT_NEAR(plain.rows_of_expert[2][0].weight, std::exp(2.0) / z0, 1e-6);
  EXPECT_NEAR(plain.rows_of_expert[0][0].weight, std::exp(1.0) / z0, 1e-6);
  ASSERT_EQ(plain.rows_of_expert[1].size(), 1u);
  ASSERT_EQ(plain.rows_of_expert[3].size(), 1u);
  EXPECT_EQ(plain.rows_of_expert[1][0].token, 1);
  const ops::Routing normed = ops::route_tokens(logits, 2, 4, 2, true);
  EXPECT_NEAR(normed.rows_of_expert[2][0].weight + normed.rows_of_expert[0][0].weight, 1.0, 1e-6);
  EXPECT_NEAR(normed.rows_of_expert[1][0].weight, 0.5, 1e-6);
  // A tie beyond top_k: with top 1, token 1 takes expert 1, the lower of the two.
  const ops::Routing one = ops::route_tokens(logits, 2, 4, 1, true);
  EXPECT_EQ(one.rows_of_expert[1].size(), 1u);
  EXPECT_TRUE(one.rows_of_expert[3].empty());
  EXPECT_EQ(one.rows_of_expert[1][0].weight, 1.f);
}

}  // namespace
}  // namespace qwen3
