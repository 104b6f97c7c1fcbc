// Whole-tensor operations (src/model/ops.cpp) as the forward pass calls them.
#include <gtest/gtest.h>

#include <vector>

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

}  // namespace
}  // namespace qwen3
