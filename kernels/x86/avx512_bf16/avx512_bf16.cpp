// bf16 x bf16 row kernel for CPUs with AVX512-BF16 (compiled with -mavx512bf16 on top of the AVX-512
// flags; selected only where cpuid reports it). vdpbf16ps multiplies 32 bf16 pairs into 16 f32 sums
// in one instruction: twice the products of an f32 FMA and no widening of the weights, which is what
// a decode step over many sequences is bound by once it is compute bound (bench/batch_decode: on 2 Zen
// 4 cores, B = 16 spent 72 % of its time widening bf16 weights and multiplying in f32).
//
// Numerics: the products of two bf16 values are exact in f32, and each accumulator adds them in column
// order, so the result differs from the scalar reference (scalar_matmul_bf16) only by summation order.
// Each (row, token) sum is a chain of its own, reduced by the same tree in every tile shape, so a
// row's result is the same whatever the token count or row range of the call: batch invariance holds
// here (tests/kernels: bit-identical alone and in a batch).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/kernels.hpp"

namespace qwen3::kernels {
namespace {

constexpr std::int64_t kPairs = 32;      // bf16 values per vdpbf16ps
constexpr std::int64_t kPrefetchRows = 8;  // as the f32 row tiles (simd_kernels.inl)

inline __m512bh load_bf16(const std::uint16_t* p) { return (__m512bh)_mm512_loadu_si512(p); }
inline __m512bh load_bf16(const std::uint16_t* p, __mmask32 m) { return (__m512bh)_mm512_maskz_loadu_epi16(m, p); }

// A tile's sums four at a time (reduced one by one, they took about a quarter of its instructions at
// 1,024 columns).
#include "kernels/x86/avx512/hsum4.inl"

// acc[a][b] += W[rows[a], i:i+32] . x[b, i:i+32], loads masked to the first `m` lanes when Masked
// (zeros past the row add nothing).
template <int R, int NT, bool Masked>
inline void step(__m512 (&acc)[R][NT], const std::uint16_t* const (&rows)[R], const std::uint16_t* x, std::int64_t x_stride,
                 std::int64_t i, std::int64_t ahead, __mmask32 m) {
  __m512bh xv[NT];
  for (int b = 0; b < NT; ++b) xv[b] = Masked ? load_bf16(x + b * x_stride + i, m) : load_bf16(x + b * x_stride + i);
  for (int a = 0; a < R; ++a) {
    if (!Masked) _mm_prefetch(reinterpret_cast<const char*>(rows[a] + ahead + i), _MM_HINT_T0);
    const __m512bh wv = Masked ? load_bf16(rows[a] + i, m) : load_bf16(rows[a] + i);
    for (int b = 0; b < NT; ++b) acc[a][b] = _mm512_dpbf16_ps(acc[a][b], wv, xv[b]);
  }
}

// R weight rows x NT tokens: every weight vector loaded once for all NT tokens, every activation
// vector once for all R rows.
template <int R, int NT>
inline void tile(const MatrixView& w, std::int64_t r, const std::uint16_t* x, std::int64_t x_stride, float* y,
                 std::int64_t y_stride) {
  __m512 acc[R][NT];
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NT; ++b) acc[a][b] = _mm512_setzero_ps();
  const std::uint16_t* rows[R];
  for (int a = 0; a < R; ++a) rows[a] = static_cast<const std::uint16_t*>(w.row(r + a));
  const std::int64_t n = w.cols, n_full = n - n % kPairs;
  const std::int64_t ahead = kPrefetchRows * w.row_stride;
  std::int64_t i = 0;
  for (; i < n_full; i += kPairs) step<R, NT, false>(acc, rows, x, x_stride, i, ahead, 0);
  if (i < n) step<R, NT, true>(acc, rows, x, x_stride, i, ahead, static_cast<__mmask32>((1u << (n - i)) - 1u));
  if constexpr (R == 4) {
    for (int b = 0; b < NT; ++b) _mm_storeu_ps(y + b * y_stride + r, hsum4_512(acc[0][b], acc[1][b], acc[2][b], acc[3][b]));
  } else {  // the same tree lane by lane, so a row sums alike whichever tile it falls in
    for (int a = 0; a < R; ++a)
      for (int b = 0; b < NT; ++b) y[b * y_stride + r + a] = _mm_cvtss_f32(hsum4_512(acc[a][b], acc[a][b], acc[a][b], acc[a][b]));
  }
}

// R rows x nt tokens for a run-time nt in [1, kMaxTokens].
template <int R>
inline void tile_of(int nt, const MatrixView& w, std::int64_t r, const std::uint16_t* x, std::int64_t x_stride, float* y,
                    std::int64_t y_stride) {
  switch (nt) {
    case 6: return tile<R, 6>(w, r, x, x_stride, y, y_stride);
    case 5: return tile<R, 5>(w, r, x, x_stride, y, y_stride);
    case 4: return tile<R, 4>(w, r, x, x_stride, y, y_stride);
    case 3: return tile<R, 3>(w, r, x, x_stride, y, y_stride);
    case 2: return tile<R, 2>(w, r, x, x_stride, y, y_stride);
    default: return tile<R, 1>(w, r, x, x_stride, y, y_stride);
  }
}

// 4 rows x 6 tokens = 24 accumulators + 6 activation vectors + 1 weight vector of 32 zmm registers.
constexpr int kRows = 4;
constexpr int kMaxTokens = 6;
// Up to this many tokens the rows go one at a time instead (see kOneRowTokens in simd_kernels.inl):
// a 4-row tile reads 4 streams a row apart, which one Zen 4 core streams at about half the speed of
// one sequential stream; with few tokens per row that is what decode waits on. Measured with
// bench/batch_decode --decode-rows bf16 on 2 cores: B = 1 25.5-30.7 t/s against 17.3-20.7 with
// 4-row tiles, B = 2 49.6 against 36.0; from 4 tokens on the 4-row tiles were faster (62 against
// 57 t/s at B = 4, 98 against 92 at B = 8). A row sums in the same order either way.
constexpr std::int64_t kOneRowTokens = 2;

// Every token of the call against the same R rows, in tiles as even as kMaxTokens allows (16 tokens
// as 6 + 5 + 5, not 6 + 6 + 2 + 2: a small tile does fewer products per load), then the next rows.
// The rows stay in L1 while the tiles pass over them, so each weight is read from memory once.
template <int R>
inline void all_tokens(const MatrixView& w, std::int64_t r, const std::uint16_t* x, std::int64_t x_stride, std::int64_t n_tokens,
                       float* y, std::int64_t y_stride) {
  const std::int64_t n_tiles = (n_tokens + kMaxTokens - 1) / kMaxTokens;
  for (std::int64_t k = 0, t = 0; k < n_tiles; ++k) {
    const std::int64_t t_end = n_tokens * (k + 1) / n_tiles;
    tile_of<R>(static_cast<int>(t_end - t), w, r, x + t * x_stride, x_stride, y + t * y_stride, y_stride);
    t = t_end;
  }
}

void matmul_bf16(const MatrixView& w, const std::uint16_t* x, std::int64_t x_stride, std::int64_t n_tokens, float* y,
                 std::int64_t y_stride, std::int64_t r0, std::int64_t r1) {
  std::int64_t r = r0;
  if (n_tokens > kOneRowTokens)  // else every row alone: one sequential stream per thread
    for (; r + kRows <= r1; r += kRows) all_tokens<kRows>(w, r, x, x_stride, n_tokens, y, y_stride);
  for (; r < r1; ++r) all_tokens<1>(w, r, x, x_stride, n_tokens, y, y_stride);
}

// Q8 rows to bf16, 32 values (one block) at a time: int8 -> f32 exactly, times the block's f16 scale
// (exact in f32: 8 x 11 significant bits), rounded to nearest even by vcvtne2ps2bf16, as f32_to_bf16.
void dequantize_q8(const MatrixView& w, std::int64_t r0, std::int64_t n_rows, std::uint16_t* out) {
  const std::int64_t blocks = w.cols / kQ8Block;
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const auto* q = static_cast<const std::int8_t*>(w.row(r0 + r));
    const std::uint16_t* scales = w.scales + (r0 + r) * w.scale_stride;
    std::uint16_t* dst = out + r * w.cols;
    for (std::int64_t b = 0; b < blocks; ++b) {
      const __m512 scale = _mm512_set1_ps(_cvtsh_ss(scales[b]));
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * kQ8Block));
      const __m512 lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(v))), scale);
      const __m512 hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(v, 1))), scale);
      _mm512_storeu_si512(dst + b * kQ8Block, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
}

}  // namespace

MatmulBf16 avx512_bf16_matmul() { return &matmul_bf16; }
DequantizeQ8Bf16 avx512_bf16_dequantize_q8() { return &dequantize_q8; }

}  // namespace qwen3::kernels
