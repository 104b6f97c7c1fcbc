// Every SIMD kernel variant against the scalar reference on seeded random input.
// fp32 operands: |variant - scalar| <= 1e-5 + 1e-5*|scalar|. The scalar reference sums in double, so
// the difference is the variant's own f32 rounding. That error grows with sum|w_i x_i|, not with the
// result, so inputs have realistic scales: weights ~N(0, 0.05^2) (trained LLM weights are ~0.02-0.05),
// activations ~N(0, 1). bf16/f16 operands are widened exactly in every variant: the same bound holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/q8.hpp"
#include "kernels/onednn/gemm.hpp"
#include "qwen3/error.hpp"
#include "test_support.hpp"

namespace qwen3::kernels {
namespace {

using test::worst_excess;

std::vector<std::uint16_t> to_16bit(const std::vector<float>& v, DType t) {
  std::vector<std::uint16_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (t == DType::BF16) {
      out[i] = f32_to_bf16(v[i]);
    } else {  // f16 via a bf16-exact value is not needed: build a finite f16 from a small integer grid
      const float x = std::round(v[i] * 256.f) / 256.f;
      const std::uint32_t sign = x < 0 ? 0x8000u : 0u;
      const float a = std::fabs(x);
      std::uint16_t h = 0;
      if (a != 0.f) {
        int e;
        const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
        h = static_cast<std::uint16_t>(((e + 14) << 10) | (static_cast<std::uint32_t>(std::ldexp(m, 11)) & 0x3ffu));
      }
      out[i] = static_cast<std::uint16_t>(sign | h);
    }
  }
  return out;
}

struct MatmulCase {
  DType dtype;
  std::int64_t rows, cols, tokens;
};

// Each SIMD variant under its own fixed name, whatever this CPU has: a variant the CPU (or the
// QWEN3_MAX_ISA cap) lacks is a skip that says so, never a test that silently is not there. Scalar is
// not a case: it is the referee.
class KernelVariantTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (const std::string missing = test::missing_isa(GetParam()); !missing.empty()) GTEST_SKIP() << missing;
  }
  const KernelTable& variant() const { return test::kernel_table(GetParam()); }
};

// Property: matmul of every variant equals scalar for f32/bf16/f16 weights, decode (1 token) and
// prefill (several tokens, not a multiple of the token tile), odd row counts, and column counts with
// a tail for both vector widths (not a multiple of 8 nor of 16) as well as without one.
TEST_P(KernelVariantTest, MatmulMatchesScalarWithin1e5) {
  const KernelTable& k = variant();
  const MatmulCase cases[] = {{DType::F32, 37, 64, 1},   {DType::F32, 64, 1000, 5}, {DType::F32, 21, 67, 3},
                              {DType::F32, 19, 1003, 1}, {DType::BF16, 40, 128, 1}, {DType::BF16, 33, 77, 7},
                              {DType::BF16, 18, 1029, 2}, {DType::F16, 29, 96, 3},  {DType::F16, 64, 1024, 1},
                              {DType::F16, 23, 83, 5},   {DType::F16, 17, 1030, 1}};
  std::uint32_t seed = 1;
  for (const auto& c : cases) {
    const auto wf = test::random_floats(static_cast<std::size_t>(c.rows * c.cols), seed++, 0.05f);
    const auto x = test::random_floats(static_cast<std::size_t>(c.tokens * c.cols), seed++);
    ASSERT_NE(wf[0], wf[1]) << "input must not be constant";
    const auto w16 = to_16bit(wf, c.dtype);
    const MatrixView w{c.dtype == DType::F32 ? static_cast<const void*>(wf.data()) : w16.data(), c.dtype, c.rows, c.cols, c.cols};
    std::vector<float> want(static_cast<std::size_t>(c.tokens * c.rows)), got(want.size());
    scalar_kernels().matmul(w, x.data(), c.cols, c.tokens, want.data(), c.rows, 0, c.rows);
    k.matmul(w, x.data(), c.cols, c.tokens, got.data(), c.rows, 0, c.rows);
    EXPECT_LE(worst_excess(got, want), 0.f) << dtype_name(c.dtype) << " " << c.rows << "x" << c.cols << " tokens " << c.tokens;
    // A partial row range writes only its rows.
    std::vector<float> part(want.size(), -7.f);
    k.matmul(w, x.data(), c.cols, c.tokens, part.data(), c.rows, 3, c.rows - 2);
    EXPECT_EQ(part[0], -7.f);
    EXPECT_NEAR(part[3], want[3], 1e-5 + 1e-5 * std::fabs(want[3]));
  }
}

// Property: widening weight rows to f32 is exact in every variant (bit-equal to scalar), for every
// dtype and column counts with and without a vector tail.
TEST_P(KernelVariantTest, WidenRowsIsExact) {
  const KernelTable& k = variant();
  std::uint32_t seed = 900;
  for (DType t : {DType::BF16, DType::F16, DType::F32}) {
    for (std::int64_t cols : {64, 77, 1029}) {
      const std::int64_t rows = 5;
      const auto wf = test::random_floats(static_cast<std::size_t>(rows * cols), seed++, 0.05f);
      const auto w16 = to_16bit(wf, t);
      const MatrixView w{t == DType::F32 ? static_cast<const void*>(wf.data()) : w16.data(), t, rows, cols, cols};
      std::vector<float> want(static_cast<std::size_t>(3 * cols)), got(want.size(), std::nanf(""));
      scalar_kernels().widen_rows(w, 1, 3, want.data());
      k.widen_rows(w, 1, 3, got.data());
      EXPECT_EQ(worst_excess(got, want, 0.f, 0.f), 0.f) << dtype_name(t) << " cols " << cols;
    }
  }
}

// KV rows of head_dim values quantized as the cache stores --kv-type q8 (one scale per row).
struct Q8Rows {
  std::vector<std::int8_t> q;
  std::vector<float> scales;
  Q8Rows(const std::vector<float>& f, std::int64_t head_dim) : q(f.size()), scales(f.size() / static_cast<std::size_t>(head_dim)) {
    for (std::size_t r = 0; r < scales.size(); ++r)
      quantize_kv_row(f.data() + r * static_cast<std::size_t>(head_dim), head_dim, q.data() + r * static_cast<std::size_t>(head_dim), &scales[r]);
  }
};

// Property: attention scores and P.V accumulation (with and without rescaling o) of every variant
// equal scalar for f32, bf16 and q8 KV (the same int8 rows and scales),
// GQA row counts 1..9 and head_dim 64/128, 72 (a tail for 16-wide vectors and a single 8-wide chunk
// after the 32-wide P.V panels) and 68 (a 4-element tail for both widths).
TEST_P(KernelVariantTest, AttentionTilesMatchScalarWithin1e5) {
  const KernelTable& k = variant();
  std::uint32_t seed = 100;
  for (KvType kv : {KvType::F32, KvType::BF16, KvType::Q8}) {
    for (std::int64_t d : {64, 128, 72, 68}) {
      for (std::int64_t nq : {1, 4, 9}) {
        const std::int64_t n = 61;
        const auto q = test::random_floats(static_cast<std::size_t>(nq * d), seed++);
        const auto kf = test::random_floats(static_cast<std::size_t>(n * d), seed++);
        const auto vf = test::random_floats(static_cast<std::size_t>(n * d), seed++);
        const auto k16 = to_16bit(kf, DType::BF16), v16 = to_16bit(vf, DType::BF16);
        const Q8Rows k8(kf, d), v8(vf, d);
        const auto rows = [&](const std::vector<float>& f, const std::vector<std::uint16_t>& h, const Q8Rows& q8) {
          if (kv == KvType::Q8) return KvRows{q8.q.data(), kv, q8.scales.data()};
          return KvRows{kv == KvType::F32 ? static_cast<const void*>(f.data()) : h.data(), kv, nullptr};
        };
        const KvRows kp = rows(kf, k16, k8), vp = rows(vf, v16, v8);
        std::vector<float> want(static_cast<std::size_t>(nq * n)), got(want.size());
        scalar_kernels().attention_scores(q.data(), nq, kp, n, d, 0.125f, want.data(), nullptr);
        // With and without a prefetch region (here the values): it must not change a result.
        for (const void* pf : {static_cast<const void*>(nullptr), vp.data}) {
          k.attention_scores(q.data(), nq, kp, n, d, 0.125f, got.data(), pf);
          EXPECT_LE(worst_excess(got, want), 0.f) << kv_type_name(kv) << " scores d=" << d << " nq=" << nq << " prefetch " << (pf != nullptr);
        }

        const auto p = test::random_floats(static_cast<std::size_t>(nq * n), seed++, 0.1f);
        const std::int64_t stride = d + 2;  // as in packed online-softmax rows
        // With and without the online-softmax rescale of the old o (one factor per row).
        const auto o_scale = test::random_floats(static_cast<std::size_t>(nq), seed++, 1.f);
        for (const float* scale : {static_cast<const float*>(nullptr), o_scale.data()}) {
          std::vector<float> o_want = test::random_floats(static_cast<std::size_t>(nq * stride), seed++), o_got(o_want);
          scalar_kernels().attention_accumulate(p.data(), nq, vp, n, d, scale, o_want.data(), stride, nullptr);
          k.attention_accumulate(p.data(), nq, vp, n, d, scale, o_got.data(), stride, scale ? kp.data : nullptr);
          EXPECT_LE(worst_excess(o_got, o_want), 0.f) << kv_type_name(kv) << " accumulate d=" << d << " nq=" << nq << " scaled " << (scale != nullptr);
        }
      }
    }
  }
}

// Property: the vectorised softmax numerator equals scalar exp within 1e-5 + 1e-5*|ref| per element
// and for the sum, over the range scores minus their max take ([-90, 0]), with -inf giving exactly 0.
TEST_P(KernelVariantTest, ExpShiftedSumMatchesScalar) {
  const KernelTable& k = variant();
  for (std::int64_t n : {1, 7, 16, 61, 200}) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (std::int64_t j = 0; j < n; ++j) x[static_cast<std::size_t>(j)] = -90.f * static_cast<float>((j * 37) % 101) / 100.f;
    x[0] = -std::numeric_limits<float>::infinity();
    std::vector<float> want = x, got = x;
    const float sum_want = scalar_kernels().exp_shifted_sum(want.data(), n, -0.5f);
    const float sum_got = k.exp_shifted_sum(got.data(), n, -0.5f);
    EXPECT_LE(worst_excess(got, want), 0.f) << "n=" << n;
    EXPECT_NEAR(sum_got, sum_want, 1e-5 + 1e-5 * std::fabs(sum_want));
    EXPECT_EQ(got[0], 0.f);
  }
}

INSTANTIATE_TEST_SUITE_P(SimdVariants, KernelVariantTest, ::testing::Values(Isa::Avx2, Isa::Avx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

// Property: the comparison above can fail. A matmul that drops the last column (an off-by-one in a
// tail loop) is caught by the same bound.
TEST(KernelComparison, DeliberatelyWrongKernelFails) {
  auto wrong = [](const MatrixView& w, const float* x, std::int64_t xs, std::int64_t nt, float* y, std::int64_t ys,
                  std::int64_t r0, std::int64_t r1) {
    MatrixView shorter = w;
    shorter.cols -= 1;
    scalar_kernels().matmul(shorter, x, xs, nt, y, ys, r0, r1);
  };
  const std::int64_t rows = 16, cols = 100;
  const auto wf = test::random_floats(static_cast<std::size_t>(rows * cols), 7);
  const auto x = test::random_floats(static_cast<std::size_t>(cols), 8);
  const MatrixView w{wf.data(), DType::F32, rows, cols, cols};
  std::vector<float> want(rows), got(rows);
  scalar_kernels().matmul(w, x.data(), cols, 1, want.data(), rows, 0, rows);
  wrong(w, x.data(), cols, 1, got.data(), rows, 0, rows);
  EXPECT_GT(worst_excess(got, want), 0.f);
}

// Property: the comparison helpers fail on a NaN or an infinity on either side, including where the
// rest of the data is equal (std::max(m, NaN) returns m: a fold with it alone ignores a NaN).
TEST(KernelComparison, NonFiniteValuesFail) {
  const std::vector<float> clean{1.f, 2.f, 3.f};
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (std::size_t at = 0; at < clean.size(); ++at) {
      std::vector<float> dirty = clean;
      dirty[at] = bad;
      EXPECT_GT(worst_excess(dirty, clean, 1e3f, 1e3f), 0.f) << bad << " at " << at;
      EXPECT_GT(worst_excess(clean, dirty, 1e3f, 1e3f), 0.f) << bad << " at " << at;
      EXPECT_FALSE(test::max_abs_diff(dirty.data(), clean.data(), clean.size()) <= 1e3f) << bad << " at " << at;
      EXPECT_FALSE(test::max_abs_diff(clean.data(), dirty.data(), clean.size()) <= 1e3f) << bad << " at " << at;
    }
  }
  EXPECT_LE(worst_excess(clean, clean), 0.f);
  EXPECT_EQ(test::max_abs_diff(clean.data(), clean.data(), clean.size()), 0.f);
}

// Property: the oneDNN prefill path the probe picked for each weight dtype equals the scalar
// reference. Its f32 paths (f32 weights, and bf16/f16 weights widened a tile at a time, with a last
// partial tile) see the same operands as scalar; the bf16 path rounds activations to bf16, so scalar
// gets the same rounded activations. Only summation order differs: oneDNN's blocking, hence 1e-4.
TEST(OneDnnGemm, MatchesScalarReference) {
  const OneDnnCapabilities& caps = onednn_capabilities();
  if (!caps.f32_matmul) GTEST_SKIP() << "requires onednn: oneDNN cannot run here: " << caps.failure;
  const MatmulCase cases[] = {{DType::F32, 67, 77, 33}, {DType::F32, 600, 1024, 37}, {DType::BF16, 67, 77, 33},
                              {DType::BF16, 600, 1024, 37}, {DType::F16, 67, 77, 33}, {DType::F16, 600, 1024, 37}};
  std::uint32_t seed = 500;
  for (const auto& c : cases) {
    const PrefillGemm path = onednn_prefill_path(c.dtype);
    std::printf("%s weights: %s (%s)\n", std::string(dtype_name(c.dtype)).c_str(), std::string(prefill_gemm_name(path)).c_str(), caps.isa.c_str());
    ASSERT_NE(path, PrefillGemm::Native) << "oneDNN has f32 matmul, so every dtype has a oneDNN path";
    const auto wf = test::random_floats(static_cast<std::size_t>(c.rows * c.cols), seed++, 0.05f);
    auto x = test::random_floats(static_cast<std::size_t>(c.tokens * c.cols), seed++);
    const auto w16 = to_16bit(wf, c.dtype);
    const MatrixView w{c.dtype == DType::F32 ? static_cast<const void*>(wf.data()) : w16.data(), c.dtype, c.rows, c.cols, c.cols};
    std::vector<float> got(static_cast<std::size_t>(c.tokens * c.rows), std::nanf(""));
    ASSERT_TRUE(onednn_gemm(*test::host_kernel_tables().back(), w, x.data(), c.tokens, got.data()));
    if (path == PrefillGemm::OneDnnBf16)
      for (float& v : x) v = bf16_to_f32(f32_to_bf16(v));
    std::vector<float> want(got.size());
    scalar_kernels().matmul(w, x.data(), c.cols, c.tokens, want.data(), c.rows, 0, c.rows);
    EXPECT_LE(worst_excess(got, want, 1e-4f, 1e-4f), 0.f) << dtype_name(c.dtype) << " " << c.rows << "x" << c.cols << " tokens " << c.tokens;
  }
}

// The AVX512-BF16 row kernel where this process may run it, else the reason for the skip.
std::string missing_bf16_rows() {
  if (!avx512_bf16_matmul()) return "requires avx512_bf16: this build has no AVX512-BF16 kernel (not an x86-64 build)";
  const CpuFeatures cpu = detect_cpu_features();
  if (cpu.has_avx512_set() && cpu.avx512bf16) return {};
  return "requires avx512_bf16: not among this process's CPU features (" + cpu.describe() + ")";
}

// Property: the bf16 x bf16 row kernel equals its scalar referee (products of the same bf16 values
// summed in double) within 1e-5 + 1e-5*|ref|: decode and several tokens (every token tile size and
// a remainder), column counts with and without a 32-value tail, odd rows, and partial row ranges
// that write only their rows.
TEST(MatmulBf16, MatchesScalarReferenceWithin1e5) {
  if (const std::string missing = missing_bf16_rows(); !missing.empty()) GTEST_SKIP() << missing;
  const MatmulCase cases[] = {{DType::BF16, 40, 128, 1}, {DType::BF16, 33, 77, 7},   {DType::BF16, 18, 1029, 2},
                              {DType::BF16, 64, 1024, 16}, {DType::BF16, 21, 31, 13}, {DType::BF16, 9, 3072, 6}};
  std::uint32_t seed = 700;
  for (const auto& c : cases) {
    const auto w16 = to_16bit(test::random_floats(static_cast<std::size_t>(c.rows * c.cols), seed++, 0.05f), DType::BF16);
    const auto x16 = to_16bit(test::random_floats(static_cast<std::size_t>(c.tokens * c.cols), seed++), DType::BF16);
    const MatrixView w{w16.data(), DType::BF16, c.rows, c.cols, c.cols};
    std::vector<float> want(static_cast<std::size_t>(c.tokens * c.rows)), got(want.size(), std::nanf(""));
    scalar_matmul_bf16(w, x16.data(), c.cols, c.tokens, want.data(), c.rows, 0, c.rows);
    avx512_bf16_matmul()(w, x16.data(), c.cols, c.tokens, got.data(), c.rows, 0, c.rows);
    EXPECT_LE(worst_excess(got, want), 0.f) << c.rows << "x" << c.cols << " tokens " << c.tokens;
    std::vector<float> part(want.size(), -7.f);
    avx512_bf16_matmul()(w, x16.data(), c.cols, c.tokens, part.data(), c.rows, 3, c.rows - 2);
    EXPECT_EQ(part[0], -7.f);
    EXPECT_EQ(part[static_cast<std::size_t>(c.rows - 1)], -7.f);
    EXPECT_NEAR(part[3], want[3], 1e-5 + 1e-5 * std::fabs(want[3]));
  }
}

// Property (batch invariance at the kernel): a token's outputs are bit-identical whether it is
// multiplied alone or as any token of a call with more, and whatever row range the call covers, so
// a sequence's logits do not depend on what else shares its decode step.
TEST(MatmulBf16, EachTokensRowsAreTheSameAloneAndInABatch) {
  if (const std::string missing = missing_bf16_rows(); !missing.empty()) GTEST_SKIP() << missing;
  const std::int64_t rows = 37, cols = 1000, tokens = 17;
  const auto w16 = to_16bit(test::random_floats(static_cast<std::size_t>(rows * cols), 801, 0.05f), DType::BF16);
  const auto x16 = to_16bit(test::random_floats(static_cast<std::size_t>(tokens * cols), 802), DType::BF16);
  const MatrixView w{w16.data(), DType::BF16, rows, cols, cols};
  std::vector<float> batch(static_cast<std::size_t>(tokens * rows));
  avx512_bf16_matmul()(w, x16.data(), cols, tokens, batch.data(), rows, 0, rows);
  for (std::int64_t t = 0; t < tokens; ++t) {
    std::vector<float> alone(static_cast<std::size_t>(rows));
    avx512_bf16_matmul()(w, x16.data() + t * cols, cols, 1, alone.data(), rows, 0, 5);
    avx512_bf16_matmul()(w, x16.data() + t * cols, cols, 1, alone.data(), rows, 5, rows);
    for (std::int64_t r = 0; r < rows; ++r)
      ASSERT_EQ(alone[static_cast<std::size_t>(r)], batch[static_cast<std::size_t>(t * rows + r)]) << "token " << t << " row " << r;
  }
}

// Property: bf16 rows are opt-in: --decode-rows bf16 gives the AVX-512 variant the bf16 row kernel
// exactly where the CPU has AVX512-BF16 (with or without the oneDNN gemm), never the AVX2 or scalar
// variant; the default (f32) and with_onednn_gemm alone never do.
TEST(MatmulBf16, OnlyWhereAskedForAndTheInstructionIs) {
  const CpuFeatures cpu = detect_cpu_features();
  if (!cpu.has_avx512_set() || !avx512_kernels())
    GTEST_SKIP() << "requires avx512: avx512f/bw/vl not among this process's CPU features (" << cpu.describe() << ")";
  const KernelTable& avx512 = select_kernels(KernelChoice::Avx512, cpu);
  EXPECT_EQ(select_kernels("avx512", "onednn", "bf16", cpu).matmul_bf16 != nullptr, cpu.avx512bf16);
  EXPECT_EQ(select_kernels("avx512", "native", "bf16", cpu).matmul_bf16 != nullptr, cpu.avx512bf16);
  EXPECT_EQ(select_kernels("avx512", "onednn", "bf16", cpu).gemm, with_onednn_gemm(avx512).gemm);
  EXPECT_EQ(select_kernels("avx512", "onednn", "f32", cpu).matmul_bf16, nullptr);
  EXPECT_EQ(with_onednn_gemm(avx512).matmul_bf16, nullptr);
  if (cpu.has_avx2_set()) {
    EXPECT_EQ(select_kernels("avx2", "onednn", "bf16", cpu).matmul_bf16, nullptr);
  }
  EXPECT_EQ(select_kernels("scalar", "native", "bf16", cpu).matmul_bf16, nullptr);
}

// Property: a shape oneDNN refuses falls back: onednn_gemm returns false and leaves y alone, and says
// so once on stderr for that shape, not on every call.
TEST(OneDnnGemm, RefusedShapeFallsBackWithOneNote) {
  if (!onednn_capabilities().f32_matmul) GTEST_SKIP() << "requires onednn: oneDNN cannot run here: " << onednn_capabilities().failure;
  const KernelTable& k = *test::host_kernel_tables().back();
  const std::int64_t rows = 45, cols = 70, tokens = 35;  // a shape no other test uses: new to the cache
  const auto wf = test::random_floats(static_cast<std::size_t>(rows * cols), 77, 0.05f);
  const auto x = test::random_floats(static_cast<std::size_t>(tokens * cols), 78);
  const MatrixView w{wf.data(), DType::F32, rows, cols, cols};
  std::vector<float> y(static_cast<std::size_t>(tokens * rows), -7.f);
  onednn_refuse_new_shapes_for_testing(true);
  ::testing::internal::CaptureStderr();
  const bool first = onednn_gemm(k, w, x.data(), tokens, y.data());
  const bool second = onednn_gemm(k, w, x.data(), tokens, y.data());
  const std::string err = ::testing::internal::GetCapturedStderr();
  onednn_refuse_new_shapes_for_testing(false);
  EXPECT_FALSE(first);
  EXPECT_FALSE(second);
  EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == -7.f; }));
  std::size_t notes = 0;
  for (std::size_t at = err.find("note: oneDNN has no"); at != std::string::npos; at = err.find("note: oneDNN has no", at + 1)) ++notes;
  EXPECT_EQ(notes, 1u) << err;
  EXPECT_NE(err.find("35 x 45 x 70"), std::string::npos) << err;
}

// In a fresh process (oneDNN's ISA is fixed by its first primitive, and onednn_capabilities() probes
// once): sets QWEN3_MAX_ISA=level, clears oneDNN's own caps, and exits 0 if oneDNN then runs at the
// level's ISA without a bf16 matmul, else prints what it found and exits 1.
[[noreturn]] void exit_with_onednn_under_cap(const std::string& level) {
  unsetenv("ONEDNN_MAX_CPU_ISA");
  unsetenv("DNNL_MAX_CPU_ISA");
  setenv("QWEN3_MAX_ISA", level.c_str(), 1);
  const OneDnnCapabilities& caps = onednn_capabilities();
  const bool capped = caps.f32_matmul && caps.isa == (level == "avx2" ? "avx2" : "sse41") && !caps.bf16_matmul &&
                      onednn_prefill_path(DType::BF16) == PrefillGemm::OneDnnF32Converted;
  if (!capped)
    std::fprintf(stderr, "QWEN3_MAX_ISA=%s: oneDNN at %s, f32 matmul %d, bf16 matmul %d, failure '%s'\n", level.c_str(),
                 caps.isa.c_str(), caps.f32_matmul, caps.bf16_matmul, caps.failure.c_str());
  std::exit(capped ? 0 : 1);
}

// Property: QWEN3_MAX_ISA caps oneDNN along with our kernels (the isa_avx2 / isa_scalar test levels
// rely on it): avx2 -> oneDNN at AVX2 (no bf16 matmul there), scalar -> SSE4.1. Each cap is tried in
// a child process of its own, so the test needs no cap in its own environment.
TEST(OneDnnGemm, IsaCapReachesOneDnn) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child re-executes this binary: a fresh oneDNN
  EXPECT_EXIT(exit_with_onednn_under_cap("scalar"), ::testing::ExitedWithCode(0), "");
  if (const std::string missing = test::missing_isa(Isa::Avx2); !missing.empty()) GTEST_SKIP() << missing;
  EXPECT_EXIT(exit_with_onednn_under_cap("avx2"), ::testing::ExitedWithCode(0), "");
}

// Property: conversions are exact where they must be (bf16 -> f32 widening, round-to-nearest-even).
TEST(Convert, Bf16RoundTripAndRounding) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-2.5f)), -2.5f);
  EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256.f), f32_to_bf16(1.0f));  // halfway: ties to even (down)
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
}

// Property: dispatch never hands out a variant the CPU lacks, and names the missing feature.
TEST(Dispatch, ForcedVariantNeedsCpuSupport) {
  CpuFeatures none;
  EXPECT_EQ(select_kernels(KernelChoice::Auto, none).isa, Isa::Scalar);
  EXPECT_THROW(select_kernels(KernelChoice::Avx2, none), Error);
  EXPECT_THROW(select_kernels(KernelChoice::Avx512, none), Error);
  EXPECT_THROW(parse_kernel_choice("sse9"), Error);
  CpuFeatures avx2_only;
  avx2_only.avx2 = avx2_only.fma = avx2_only.f16c = true;
  EXPECT_EQ(select_kernels(KernelChoice::Auto, avx2_only).isa, Isa::Avx2);
}

}  // namespace
}  // namespace qwen3::kernels
