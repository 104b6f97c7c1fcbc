// The W8A8 row kernel (Q8 weights on int8 activations, --decode-rows int8; kernels/q8.hpp) written once for
// its two x86 variants, which include it inside their own anonymous namespace after defining, for their own
// -m flags:
//   __m256i block_dot(__m256i w_abs, __m256i x_signed): 8 int32 sums of 4 products each, of the
//     unsigned |w| and the signed x carrying w's sign (vpsignb), 32 columns in all;
//   constexpr int kMaxTokens: the most tokens one tile multiplies (registers: R*NT accumulators).
//
// A block's int8 dot is exact; it is converted to f32 once and added to the (row, token) accumulator
// times scale_w * scale_x. Each (row, token) pair has its own chain of blocks in column order and one
// reduction tree (hsum8), whatever tile it falls in, so a row's result is the same alone and in a
// batch, and the same on the avx2 and avx512 levels (both multiply the same integers).

constexpr std::int64_t kPrefetchRows = 8;  // as the f32 and bf16 row tiles

// The sum of the 8 lanes of v, in one fixed order.
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

inline float f16_scale(std::uint16_t h) { return _cvtsh_ss(h); }

// R weight rows x NT tokens: each weight block loaded once for all NT tokens, each activation block
// once for all R rows.
template <int R, int NT>
inline void tile(const MatrixView& w, std::int64_t r, const Q8Activations& x, std::int64_t t0, float* y, std::int64_t y_stride) {
  const std::int64_t blocks = w.cols / kQ8Block;
  __m256 acc[R][NT];
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NT; ++b) acc[a][b] = _mm256_setzero_ps();
  const std::int8_t* rows[R];
  const std::uint16_t* row_scales[R];
  for (int a = 0; a < R; ++a) {
    rows[a] = static_cast<const std::int8_t*>(w.row(r + a));
    row_scales[a] = w.scales + (r + a) * w.scale_stride;
  }
  const std::int8_t* xq = x.q + t0 * w.cols;
  const float* xs = x.scales + t0 * blocks;
  const std::int64_t ahead = kPrefetchRows * w.row_stride;
  for (std::int64_t k = 0; k < blocks; ++k) {
    __m256i xv[NT];
    float x_scale[NT];
    for (int b = 0; b < NT; ++b) {
      xv[b] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * w.cols + k * kQ8Block));
      x_scale[b] = xs[b * blocks + k];
    }
    for (int a = 0; a < R; ++a) {
      if (k % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(rows[a] + ahead + k * kQ8Block), _MM_HINT_T0);
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[a] + k * kQ8Block));
      const __m256i w_abs = _mm256_abs_epi8(wv);
      const float w_scale = f16_scale(row_scales[a][k]);
      for (int b = 0; b < NT; ++b) {
        const __m256 dot = _mm256_cvtepi32_ps(block_dot(w_abs, _mm256_sign_epi8(xv[b], wv)));
        acc[a][b] = _mm256_fmadd_ps(dot, _mm256_set1_ps(w_scale * x_scale[b]), acc[a][b]);
      }
    }
  }
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NT; ++b) y[(t0 + b) * y_stride + r + a] = hsum8(acc[a][b]);
}

template <int R>
inline void tile_of(int nt, const MatrixView& w, std::int64_t r, const Q8Activations& x, std::int64_t t0, float* y,
                    std::int64_t y_stride) {
  static_assert(kMaxTokens >= 2 && kMaxTokens <= 6);
  switch (nt) {
    case 6: if constexpr (kMaxTokens >= 6) return tile<R, 6>(w, r, x, t0, y, y_stride); [[fallthrough]];
    case 5: if constexpr (kMaxTokens >= 5) return tile<R, 5>(w, r, x, t0, y, y_stride); [[fallthrough]];
    case 4: if constexpr (kMaxTokens >= 4) return tile<R, 4>(w, r, x, t0, y, y_stride); [[fallthrough]];
    case 3: if constexpr (kMaxTokens >= 3) return tile<R, 3>(w, r, x, t0, y, y_stride); [[fallthrough]];
    case 2: return tile<R, 2>(w, r, x, t0, y, y_stride);
    default: return tile<R, 1>(w, r, x, t0, y, y_stride);
  }
}

// Every token of the call against the same R rows, in tiles as even as kMaxTokens allows, then the
// next rows: the rows stay in L1 while the tiles pass over them.
template <int R>
inline void all_tokens(const MatrixView& w, std::int64_t r, const Q8Activations& x, float* y, std::int64_t y_stride) {
  const std::int64_t n_tiles = (x.n_tokens + kMaxTokens - 1) / kMaxTokens;
  for (std::int64_t k = 0, t = 0; k < n_tiles; ++k) {
    const std::int64_t t_end = x.n_tokens * (k + 1) / n_tiles;
    tile_of<R>(static_cast<int>(t_end - t), w, r, x, t, y, y_stride);
    t = t_end;
  }
}

// Up to this many tokens the rows go one at a time (one sequential stream per thread; see
// kOneRowTokens in simd_kernels.inl).
constexpr std::int64_t kOneRowTokens = 2;

void matmul_q8(const MatrixView& w, const Q8Activations& x, float* y, std::int64_t y_stride, std::int64_t r0, std::int64_t r1) {
  constexpr int kRows = 4;
  std::int64_t r = r0;
  if (x.n_tokens > kOneRowTokens)
    for (; r + kRows <= r1; r += kRows) all_tokens<kRows>(w, r, x, y, y_stride);
  for (; r < r1; ++r) all_tokens<1>(w, r, x, y, y_stride);
}
