// AVX-512 variant (compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c). bf16 is widened to f32
// with a 16-bit shift, which is exact, so results differ from scalar only by summation order.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/kernels.hpp"
#include "kernels/q8.hpp"

namespace qwen3::kernels {
namespace {

#include "kernels/x86/avx512/hsum4.inl"

struct V512 {
  using reg = __m512;
  static constexpr int width = 16;
  static constexpr int token_tile = 4;  // 4 rows x 4 tokens = 16 accumulators of 32 zmm registers
  static constexpr int accumulate_chunks = 8;  // 2 rows x 8 chunks = 16 accumulators: a whole 128-wide head
  static constexpr int score_keys = 4;  // 2 rows x 4 keys = 8 accumulators
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
  // One Q8 block (32 int8 weights) widened to int16 once for every token of a tile (one 512-bit
  // register), then times 32 int16 activations: 16 int32 sums of 2 products each (vpmaddwd), as f32.
  using wide_block = __m512i;
  static wide_block widen_block(const std::int8_t* w) {
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
  }
  static reg block_dot_i16(const wide_block& w, const std::int16_t* x) {
    return _mm512_cvtepi32_ps(_mm512_madd_epi16(w, _mm512_loadu_si512(x)));
  }
  static reg load_i8(const std::int8_t* p) {  // 16 int8 values widened exactly
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  // 32 bf16 values as f32 in two registers, even-indexed and odd-indexed elements (see avx2.cpp).
  static void load_bf16_pairs(const std::uint16_t* p, reg& even, reg& odd) {
    const __m512i x = _mm512_loadu_si512(p);
    even = _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
    odd = _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static void deinterleave(reg a, reg b, reg& even, reg& odd) {
    const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i o = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    even = _mm512_permutex2var_ps(a, e, b);
    odd = _mm512_permutex2var_ps(a, o, b);
  }
  static void interleave(reg even, reg odd, reg& a, reg& b) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    a = _mm512_permutex2var_ps(even, lo, odd);
    b = _mm512_permutex2var_ps(even, hi, odd);
  }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static float hsum(reg v) { return _mm512_reduce_add_ps(v); }
  // The four horizontal sums of a, b, c, d: halve each to 256 bits, then one transpose-and-add tree.
  static void hsum4(reg a, reg b, reg c, reg d, float* out) { _mm_storeu_ps(out, hsum4_512(a, b, c, d)); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  // exp(x) after Cephes' expf: x = n*ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r, and
  // 2^n built in the exponent bits. Relative error ~2 ulp. Inputs below -87 (including -inf, a masked
  // score) return 0; inputs are never above 0 here (scores minus their running max).
  static reg exp(reg x) {
    const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const reg n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                       _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), x);
    reg y = _mm512_set1_ps(1.9875691500E-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894E-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459E-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201E-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    const __m512i pow2 = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    y = _mm512_mul_ps(y, _mm512_castsi512_ps(pow2));
    return _mm512_mask_blend_ps(tiny, y, _mm512_setzero_ps());
  }
};

#include "kernels/x86/simd_kernels.inl"

}  // namespace

const KernelTable* avx512_kernels() {
  static const KernelTable table{Isa::Avx512, &matmul<V512>, &attention_scores<V512>, &attention_accumulate<V512>,
                                 &exp_shifted_sum<V512>, &widen_rows<V512>};  // matmul_q8: chosen by dispatch.cpp
  return &table;
}

}  // namespace qwen3::kernels
