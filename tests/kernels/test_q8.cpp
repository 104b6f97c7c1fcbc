// The 8-bit formats and the Q8 row kernels (kernels/q8.hpp): conversions exact where they claim to
// be, quantization error bounded by half a step, and every Q8 kernel against the scalar referee, alone
// and in a batch.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/q8.hpp"
#include "test_support.hpp"

namespace qwen3::kernels {
namespace {

// A Q8 matrix and the activations of n tokens, quantized from random floats.
struct Q8Problem {
  std::int64_t rows, cols, tokens;
  std::vector<std::int8_t> w_q;
  std::vector<std::uint16_t> w_scales;
  std::vector<std::int8_t> x_q;
  std::vector<float> x_scales;
  std::vector<float> w_f32, x_f32;  // the floats before quantization

  Q8Problem(std::int64_t r, std::int64_t c, std::int64_t t, std::uint32_t seed) : rows(r), cols(c), tokens(t) {
    w_f32 = test::random_floats(static_cast<std::size_t>(r * c), seed, 0.05f);
    x_f32 = test::random_floats(static_cast<std::size_t>(t * c), seed + 1);
    w_q.resize(w_f32.size());
    w_scales.resize(static_cast<std::size_t>(r * (c / kQ8Block)));
    for (std::int64_t i = 0; i < r; ++i)
      quantize_q8_weights(w_f32.data() + i * c, c, w_q.data() + i * c, w_scales.data() + i * (c / kQ8Block));
    x_q.resize(x_f32.size());
    x_scales.resize(static_cast<std::size_t>(t * (c / kQ8Block)));
    quantize_q8_activations(x_f32.data(), t * c, x_q.data(), x_scales.data());
  }
  MatrixView w() const { return {w_q.data(), DType::Q8, rows, cols, cols, w_scales.data(), cols / kQ8Block}; }
  Q8Activations x(std::int64_t t0 = 0, std::int64_t n = -1) const {
    return {x_q.data() + t0 * cols, x_scales.data() + t0 * (cols / kQ8Block), n < 0 ? tokens : n};
  }
};

// A Q8 kernel by name, or why this process cannot run it (a skip reason in the suite's convention).
struct NamedKernel {
  MatmulQ8 kernel = nullptr;
  std::string missing;
};
NamedKernel q8_kernel(const std::string& name) {
  const CpuFeatures cpu = detect_cpu_features();
  if (name == "scalar") return {&scalar_matmul_q8, ""};
  if (name == "avx2") return {avx2_q8_matmul(), avx2_q8_matmul() ? test::missing_isa(Isa::Avx2) : "requires avx2: not an x86-64 build"};
  if (!avx512_vnni_q8_matmul()) return {nullptr, "requires avx512_vnni: not an x86-64 build"};
  if (!cpu.has_avx512_set() || !cpu.avx512vnni)
    return {nullptr, "requires avx512_vnni: avx512f/bw/vl + avx512vnni not among this process's CPU features (" + cpu.describe() + ")"};
  return {avx512_vnni_q8_matmul(), ""};
}

class Q8Kernel : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const NamedKernel k = q8_kernel(GetParam());
    if (!k.missing.empty()) GTEST_SKIP() << k.missing;
    kernel_ = k.kernel;
  }
  MatmulQ8 kernel_ = nullptr;
};

// Property: f32 -> f16 rounds to nearest even and is the exact inverse of f16 -> f32 on every finite
// f16 value; values past the largest f16 become infinity.
TEST(Q8Format, F16ConversionRoundTripsEveryValue) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00u) == 0x7c00u) continue;  // inf / NaN
    ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<std::uint16_t>(h))), h) << std::hex << h;
  }
  EXPECT_EQ(f32_to_f16(1.f + 1.f / 2048.f), 0x3c00u);      // halfway between 1 and the next f16: to even (1)
  EXPECT_EQ(f32_to_f16(1.f + 3.f / 2048.f), 0x3c02u);      // halfway, odd below: up
  EXPECT_EQ(f32_to_f16(65520.f), 0x7c00u);                 // rounds past 65504
  EXPECT_EQ(f32_to_f16(-3.0e-8f), 0x8001u);                // the smallest subnormal, negative
}

// Property: every float8_e4m3fn byte decodes to its value (sign, exponent bias 7, subnormals, the
// largest 448, NaN at 0x7f/0xff), checked against the format's definition written out.
TEST(Q8Format, Fp8E4m3DecodesEveryByte) {
  for (int v = 0; v < 256; ++v) {
    const int e = (v >> 3) & 15, m = v & 7;
    const float got = fp8_e4m3_to_f32(static_cast<std::uint8_t>(v));
    if (e == 15 && m == 7) {
      EXPECT_TRUE(std::isnan(got)) << v;
      continue;
    }
    const double mag = e == 0 ? m / 8.0 * std::pow(2.0, -6) : (1 + m / 8.0) * std::pow(2.0, e - 7);
    EXPECT_EQ(got, static_cast<float>((v & 0x80) ? -mag : mag)) << v;
  }
  EXPECT_EQ(fp8_e4m3_to_f32(0x7e), 448.f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x01), std::ldexp(1.f, -9));
}

// Property: quantizing then dequantizing moves no value by more than half a step (scale / 2, plus the
// f16 rounding of the scale), each block's largest magnitude becomes +-127, and an all-zero block
// stays zero with scale 0.
TEST(Q8Format, QuantizationErrorIsAtMostHalfAStep) {
  std::vector<float> x = test::random_floats(4 * kQ8Block, 5);
  for (std::int64_t i = 2 * kQ8Block; i < 3 * kQ8Block; ++i) x[static_cast<std::size_t>(i)] = 0.f;
  x[7] = 40.f;  // an outlier costs its own block's precision only
  std::vector<std::int8_t> q(x.size());
  std::vector<std::uint16_t> scales(4);
  quantize_q8_weights(x.data(), static_cast<std::int64_t>(x.size()), q.data(), scales.data());
  std::vector<float> back(x.size());
  dequantize_q8(q.data(), scales.data(), static_cast<std::int64_t>(x.size()), back.data());
  for (std::int64_t b = 0; b < 4; ++b) {
    const float scale = f16_to_f32(scales[static_cast<std::size_t>(b)]);
    int largest = 0;
    for (std::int64_t i = b * kQ8Block; i < (b + 1) * kQ8Block; ++i) {
      EXPECT_LE(std::fabs(back[static_cast<std::size_t>(i)] - x[static_cast<std::size_t>(i)]), scale * 0.5f * 1.002f) << i;
      largest = std::max(largest, std::abs(static_cast<int>(q[static_cast<std::size_t>(i)])));
    }
    if (b == 2) {
      EXPECT_EQ(scale, 0.f);
      EXPECT_EQ(largest, 0);
    } else {
      EXPECT_EQ(largest, 127) << "block " << b;
    }
  }
  EXPECT_GT(f16_to_f32(scales[0]), 10 * f16_to_f32(scales[1]));
}

// Property: every Q8 kernel equals the referee (each block's integer dot exact, scaled and summed in
// double) within 1e-5 + 1e-5*|ref|: decode, every token tile and a remainder, odd row counts, and a
// partial row range writes only its rows.
TEST_P(Q8Kernel, MatchesTheScalarReferee) {
  const std::int64_t shapes[][3] = {{40, 128, 1}, {33, 96, 7}, {18, 1024, 2}, {64, 1024, 16}, {21, 32, 13}, {9, 3072, 6}};
  std::uint32_t seed = 900;
  for (const auto& s : shapes) {
    const Q8Problem p(s[0], s[1], s[2], seed++);
    std::vector<float> want(static_cast<std::size_t>(p.tokens * p.rows)), got(want.size(), std::nanf(""));
    scalar_matmul_q8(p.w(), p.x(), want.data(), p.rows, 0, p.rows);
    kernel_(p.w(), p.x(), got.data(), p.rows, 0, p.rows);
    EXPECT_LE(test::worst_excess(got, want), 0.f) << p.rows << "x" << p.cols << " tokens " << p.tokens;
    std::vector<float> part(want.size(), -7.f);
    kernel_(p.w(), p.x(), part.data(), p.rows, 3, p.rows - 2);
    EXPECT_EQ(part[0], -7.f);
    EXPECT_EQ(part[static_cast<std::size_t>(p.rows - 1)], -7.f);
    EXPECT_NEAR(part[3], want[3], 1e-5 + 1e-5 * std::fabs(want[3]));
  }
}

// Property (batch invariance at the kernel): a token's outputs are bit-identical whether it is
// multiplied alone (one-row tiles) or inside a call of 17 tokens (4-row tiles), whatever row range the
// call covers.
TEST_P(Q8Kernel, EachTokensRowsAreTheSameAloneAndInABatch) {
  const Q8Problem p(37, 1024, 17, 950);
  std::vector<float> batch(static_cast<std::size_t>(p.tokens * p.rows));
  kernel_(p.w(), p.x(), batch.data(), p.rows, 0, p.rows);
  for (std::int64_t t = 0; t < p.tokens; ++t) {
    std::vector<float> alone(static_cast<std::size_t>(p.rows));
    kernel_(p.w(), p.x(t, 1), alone.data(), p.rows, 0, 5);
    kernel_(p.w(), p.x(t, 1), alone.data(), p.rows, 5, p.rows);
    for (std::int64_t r = 0; r < p.rows; ++r)
      ASSERT_EQ(alone[static_cast<std::size_t>(r)], batch[static_cast<std::size_t>(t * p.rows + r)]) << "token " << t << " row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, Q8Kernel, ::testing::Values("avx2", "avx512vnni"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// Property: the AVX2 and AVX512-VNNI kernels give the same bits (both multiply the same integers and
// add the blocks in the same order), so the ISA level does not change a token either.
TEST(MatmulQ8, Avx2AndVnniGiveTheSameBits) {
  const NamedKernel avx2 = q8_kernel("avx2"), vnni = q8_kernel("avx512vnni");
  if (!vnni.missing.empty()) GTEST_SKIP() << vnni.missing;  // (a CPU with VNNI has AVX2)
  const Q8Problem p(37, 1024, 17, 960);
  std::vector<float> a(static_cast<std::size_t>(p.tokens * p.rows)), b(a.size());
  avx2.kernel(p.w(), p.x(), a.data(), p.rows, 0, p.rows);
  vnni.kernel(p.w(), p.x(), b.data(), p.rows, 0, p.rows);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

// Property: Q8 rows dequantized to bf16 for the prefill gemm by AVX512-BF16 are bit for bit the
// scalar path's: the exact f32 value (int8 x f16 scale) rounded to nearest even.
TEST(DequantizeQ8, Avx512Bf16MatchesScalarBitForBit) {
  const CpuFeatures cpu = detect_cpu_features();
  if (!avx512_bf16_dequantize_q8() || !cpu.avx512bf16)
    GTEST_SKIP() << "requires avx512_bf16: not among this process's CPU features (" << cpu.describe() << ")";
  const Q8Problem p(7, 320, 1, 980);
  std::vector<std::uint16_t> want(static_cast<std::size_t>(5 * p.cols)), got(want.size());
  scalar_dequantize_q8_bf16(p.w(), 2, 5, want.data());
  avx512_bf16_dequantize_q8()(p.w(), 2, 5, got.data());
  EXPECT_EQ(got, want);
  EXPECT_EQ(want[0], f32_to_bf16(static_cast<float>(p.w_q[2 * 320]) * f16_to_f32(p.w_scales[2 * 10])));  // row 2's first value
}

// Property: W8A8 is close to the f32 product it stands for: on 1,024 columns of N(0, 0.05) weights
// and N(0, 1) activations the error is within 2 % of the output's scale (the two roundings each move
// a product by at most half a step of its block, about 0.4 % of the block's largest value).
TEST(MatmulQ8, CloseToTheF32ProductOfTheUnquantizedValues) {
  const Q8Problem p(64, 1024, 3, 990);
  std::vector<float> got(static_cast<std::size_t>(p.tokens * p.rows));
  scalar_matmul_q8(p.w(), p.x(), got.data(), p.rows, 0, p.rows);
  double err = 0, norm = 0;
  for (std::int64_t t = 0; t < p.tokens; ++t)
    for (std::int64_t r = 0; r < p.rows; ++r) {
      double exact = 0;
      for (std::int64_t c = 0; c < p.cols; ++c)
        exact += static_cast<double>(p.w_f32[static_cast<std::size_t>(r * p.cols + c)]) * p.x_f32[static_cast<std::size_t>(t * p.cols + c)];
      err += std::pow(got[static_cast<std::size_t>(t * p.rows + r)] - exact, 2);
      norm += exact * exact;
    }
  EXPECT_LT(std::sqrt(err / norm), 0.02);
  EXPECT_GT(std::sqrt(err / norm), 1e-5);  // and it is the quantized product, not an exact one
}

// Property: the W8A8 row kernel is opt-in (--decode-rows int8): the default tables have none, and
// with_int8_rows gives vpdpbusd at the avx512 level exactly where the CPU has AVX512-VNNI, vpmaddubsw
// at the avx2 level (and at avx512 without VNNI), the referee at scalar; the load line names it.
TEST(MatmulQ8, Int8RowsOnlyWhereAskedFor) {
  const CpuFeatures cpu = detect_cpu_features();
  EXPECT_EQ(select_kernels(KernelChoice::Scalar, cpu).matmul_q8, nullptr);
  EXPECT_EQ(select_kernels("scalar", "native", "f32", cpu).matmul_q8, nullptr);
  EXPECT_EQ(select_kernels("scalar", "native", "int8", cpu).matmul_q8, &scalar_matmul_q8);
  EXPECT_EQ(describe_kernels(select_kernels("scalar", "native", "int8", cpu), DType::Q8), "scalar (decode rows int8: scalar)");
  EXPECT_EQ(describe_kernels(select_kernels("scalar", "native", "f32", cpu), DType::Q8), "scalar");
  if (cpu.has_avx2_set() && avx2_kernels()) {
    EXPECT_EQ(select_kernels("avx2", "onednn", "int8", cpu).matmul_q8, avx2_q8_matmul());
    EXPECT_EQ(select_kernels("avx2", "onednn", "f32", cpu).matmul_q8, nullptr);
  }
  if (cpu.has_avx512_set() && avx512_kernels()) {
    const KernelTable& t = select_kernels("avx512", "onednn", "int8", cpu);
    EXPECT_EQ(t.matmul_q8, cpu.avx512vnni ? avx512_vnni_q8_matmul() : avx2_q8_matmul());
    EXPECT_EQ(q8_rows_name(t), cpu.avx512vnni ? "avx512vnni" : "avx2");
    EXPECT_EQ(t.gemm, with_onednn_gemm(select_kernels(KernelChoice::Avx512, cpu)).gemm);
  }
}

// Property (W8A16, the default for Q8 weights): every variant's row kernel multiplies the widened,
// scaled int8 weights by f32 activations within 1e-5 + 1e-5*|ref| of the referee (which sums the same
// products in double), and a token's outputs are bit-identical alone and inside 17 tokens.
TEST(MatmulQ8, WidenedWeightsOnF32ActivationsMatchTheReferee) {
  for (const KernelTable* k : test::host_kernel_tables()) {
    for (const auto& shape : {std::array<std::int64_t, 3>{40, 128, 1}, {33, 96, 7}, {18, 1024, 2}, {37, 1024, 17}}) {
      const Q8Problem p(shape[0], shape[1], shape[2], 1000 + static_cast<std::uint32_t>(shape[2]));
      std::vector<float> want(static_cast<std::size_t>(p.tokens * p.rows)), got(want.size());
      scalar_kernels().matmul(p.w(), p.x_f32.data(), p.cols, p.tokens, want.data(), p.rows, 0, p.rows);
      k->matmul(p.w(), p.x_f32.data(), p.cols, p.tokens, got.data(), p.rows, 0, p.rows);
      EXPECT_LE(test::worst_excess(got, want), 0.f) << isa_name(k->isa) << " " << p.rows << "x" << p.cols << " tokens " << p.tokens;
      for (std::int64_t t = 0; t < p.tokens; ++t) {
        std::vector<float> alone(static_cast<std::size_t>(p.rows));
        k->matmul(p.w(), p.x_f32.data() + t * p.cols, p.cols, 1, alone.data(), p.rows, 0, p.rows);
        for (std::int64_t r = 0; r < p.rows; ++r)
          ASSERT_EQ(alone[static_cast<std::size_t>(r)], got[static_cast<std::size_t>(t * p.rows + r)]) << isa_name(k->isa) << " token " << t;
      }
    }
  }
}

}  // namespace
}  // namespace qwen3::kernels
