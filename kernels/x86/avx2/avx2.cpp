// AVX2 variant (compiled with -mavx2 -mfma -mf16c). bf16 is widened to f32 with a 16-bit shift,
// which is exact, so results differ from scalar only by summation order.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/convert.hpp"
#include "kernels/kernels.hpp"

namespace qwen3::kernels {
namespace {

struct V256 {
  using reg = __m256;
  static constexpr int width = 8;
  static constexpr int token_tile = 2;  // 4 rows x 2 tokens = 8 accumulators of 16 ymm registers
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float f) { return _mm256_set1_ps(f); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg load_bf16(const std::uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static reg load_f16(const std::uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

#include "kernels/x86/simd_kernels.inl"

}  // namespace

const KernelTable* avx2_kernels() {
  static const KernelTable table{Isa::Avx2, &matmul<V256>, &attention_scores<V256>, &attention_accumulate<V256>};
  return &table;
}

}  // namespace qwen3::kernels
