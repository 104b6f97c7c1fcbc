// AVX2 variant (compiled with -mavx2 -mfma -mf16c). bf16 is widened to f32 with a 16-bit shift,
// which is exact, so results differ from scalar only by summation order.
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

struct V256 {
  using reg = __m256;
  static constexpr int width = 8;
  static constexpr int token_tile = 2;  // 4 rows x 2 tokens = 8 accumulators of 16 ymm registers
  static constexpr int accumulate_chunks = 4;  // 2 rows x 4 chunks = 8 accumulators of 16 ymm registers
  static constexpr int score_keys = 4;  // 2 rows x 4 keys = 8 accumulators
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
  // One Q8 block (32 int8 weights) widened to int16 once for every token of a tile, then times 32
  // int16 activations: 8 int32 sums of 4 products each (vpmaddwd on two halves of 16), as f32.
  struct wide_block { __m256i lo, hi; };
  static wide_block widen_block(const std::int8_t* w) {
    return {_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w))),
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 16)))};
  }
  static reg block_dot_i16(const wide_block& w, const std::int16_t* x) {
    const __m256i lo = _mm256_madd_epi16(w.lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
    const __m256i hi = _mm256_madd_epi16(w.hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16)));
    return _mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi));
  }
  static reg load_i8(const std::int8_t* p) {  // 8 int8 values widened exactly
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  // 16 bf16 values as f32 in two registers, even-indexed and odd-indexed elements: one shift and one
  // mask on a single load, where load_bf16 twice costs two shuffles (port 5) and two shifts.
  static void load_bf16_pairs(const std::uint16_t* p, reg& even, reg& odd) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    even = _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
    odd = _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  // a, b = 16 consecutive floats -> their even- and odd-indexed elements, in order; interleave undoes it.
  static void deinterleave(reg a, reg b, reg& even, reg& odd) {
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static void interleave(reg even, reg odd, reg& a, reg& b) {
    const reg lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
    a = _mm256_permute2f128_ps(lo, hi, 0x20);
    b = _mm256_permute2f128_ps(lo, hi, 0x31);
  }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // The four horizontal sums of a, b, c, d in one transpose-and-add tree (13 instructions, not 4 x 6).
  static void hsum4(reg a, reg b, reg c, reg d, float* out) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
  }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  // exp(x) after Cephes' expf: x = n*ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r, and
  // 2^n built in the exponent bits. Relative error ~2 ulp. Inputs below -87 (including -inf, a masked
  // score) return 0; inputs are never above 0 here (scores minus their running max).
  static reg exp(reg x) {
    const reg tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const reg n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    reg y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    const __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(pow2));
    return _mm256_andnot_ps(tiny, y);
  }
};

#include "kernels/x86/simd_kernels.inl"

}  // namespace

const KernelTable* avx2_kernels() {
  static const KernelTable table{Isa::Avx2, &matmul<V256>, &attention_scores<V256>, &attention_accumulate<V256>,
                                 &exp_shifted_sum<V256>, &widen_rows<V256>};  // matmul_q8: chosen by dispatch.cpp
  return &table;
}

}  // namespace qwen3::kernels
