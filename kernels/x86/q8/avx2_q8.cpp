// W8A8 row kernel (--decode-rows int8) for AVX2 (compiled with -mavx2 -mfma -mf16c): a block's 32 products
// by vpmaddubsw (unsigned |w| x signed x into 16 pair sums, which cannot saturate: 2 * 127 * 127 < 32767)
// and vpmaddwd by ones into 8 int32 sums. Also the avx512 level's kernel where the CPU lacks AVX512-VNNI.
#include <immintrin.h>

#include <cstdint>

#include "kernels/kernels.hpp"

namespace qwen3::kernels {
namespace {

inline __m256i block_dot(__m256i w_abs, __m256i x_signed) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, x_signed), _mm256_set1_epi16(1));
}

// 4 rows x 2 tokens: 8 accumulators and the 2 activation blocks fit AVX2's 16 registers.
constexpr int kMaxTokens = 2;

#include "kernels/x86/q8/q8_tiles.inl"

}  // namespace

MatmulQ8 avx2_q8_matmul() { return &matmul_q8; }

}  // namespace qwen3::kernels
