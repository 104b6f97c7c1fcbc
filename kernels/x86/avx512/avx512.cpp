// AVX-512 variant (compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c). bf16 is widened to f32
// with a 16-bit shift, which is exact, so results differ from scalar only by summation order.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/convert.hpp"
#include "kernels/kernels.hpp"

namespace qwen3::kernels {
namespace {

struct V512 {
  using reg = __m512;
  static constexpr int width = 16;
  static constexpr int token_tile = 4;  // 4 rows x 4 tokens = 16 accumulators of 32 zmm registers
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float f) { return _mm512_set1_ps(f); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg load_bf16(const std::uint16_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static reg load_f16(const std::uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static float hsum(reg v) { return _mm512_reduce_add_ps(v); }
};

#include "kernels/x86/simd_kernels.inl"

}  // namespace

const KernelTable* avx512_kernels() {
  static const KernelTable table{Isa::Avx512, &matmul<V512>, &attention_scores<V512>, &attention_accumulate<V512>};
  return &table;
}

}  // namespace qwen3::kernels
