// W8A8 row kernel (--decode-rows int8) for AVX512-VNNI (compiled with -mavx512vnni -mavx512vl on top of
// AVX2): a block's 32 products and their sums into 8 int32 lanes by one vpdpbusd on 256-bit registers. 256
// bits, not 512: one block is 32 bytes, and Zen 4 runs 512-bit integer operations as two 256-bit halves
// anyway; the 32 registers of AVX-512 hold a 4 x 4 tile.
#include <immintrin.h>

#include <cstdint>

#include "kernels/kernels.hpp"

namespace qwen3::kernels {
namespace {

inline __m256i block_dot(__m256i w_abs, __m256i x_signed) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w_abs, x_signed);
}

constexpr int kMaxTokens = 4;

#include "kernels/x86/q8/q8_tiles.inl"

}  // namespace

MatmulQ8 avx512_vnni_q8_matmul() { return &matmul_q8; }

}  // namespace qwen3::kernels
