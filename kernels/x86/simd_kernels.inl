// Kernel bodies shared by the AVX2 and AVX-512 variants, written once against a small vector-traits
// type `V` (see avx2/avx2.cpp and avx512/avx512.cpp). Each including file is compiled with its own
// -m flags and includes this inside its own anonymous namespace, so the two instantiations never
// merge at link time (an AVX-512 body must not be picked for an AVX2-only machine).
//
// Required of V: type reg; static constexpr int width; zero(), set1(f), load(const float*),
// load_bf16(const uint16_t*), load_f16(const uint16_t*), store(float*, reg), fma(a, b, c) = a*b + c, mul(a, b),
// hsum(reg), hsum4(a, b, c, d, float out[4]), add(a, b), sub(a, b), exp(reg) (0 for inputs below -87, i.e. for -inf),
// load_bf16_pairs(p, even, odd) (2*width bf16 values split into even- and odd-indexed elements),
// deinterleave(a, b, even, odd) and interleave(even, odd, a, b) for 2*width consecutive floats.
//
// bf16 KV is read in pairs of vectors: one load, a shift and a mask give the even- and odd-indexed
// elements of 2*width values, where widening in order takes a shuffle and a shift per vector (the
// shuffles alone kept AVX2 port 5 busy 16 cycles per 128-wide key). A dot product does not care about
// the order of its terms, so the query rows are split the same way once per call (q pairs), and P.V
// accumulates in that order and interleaves only when it stores o.

inline float scalar_weight(const void* row, DType t, std::int64_t i) {
  switch (t) {
    case DType::BF16: return bf16_to_f32(static_cast<const std::uint16_t*>(row)[i]);
    case DType::F16: return f16_to_f32(static_cast<const std::uint16_t*>(row)[i]);
    default: return static_cast<const float*>(row)[i];
  }
}

template <class V, DType T>
inline typename V::reg load_weights(const void* row, std::int64_t i) {
  if constexpr (T == DType::BF16) return V::load_bf16(static_cast<const std::uint16_t*>(row) + i);
  else if constexpr (T == DType::F16) return V::load_f16(static_cast<const std::uint16_t*>(row) + i);
  else return V::load(static_cast<const float*>(row) + i);
}

constexpr std::int64_t kPrefetchRows = 8;

// R weight rows x NT tokens of dot products, every weight vector loaded once for all NT tokens.
template <class V, DType T, int R, int NT>
inline void matmul_tile(const MatrixView& w, std::int64_t r, const float* x, std::int64_t x_stride, float* y,
                        std::int64_t y_stride) {
  typename V::reg acc[R][NT];
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NT; ++b) acc[a][b] = V::zero();
  const void* rows[R];
  for (int a = 0; a < R; ++a) rows[a] = w.row(r + a);
  const std::int64_t n = w.cols;
  const std::int64_t n_vec = n - n % V::width;
  constexpr std::int64_t elem = T == DType::F32 ? 4 : 2;
  // Software prefetch of the same columns kPrefetchRows rows further down (8 measured best of 4, 8, 16 with bench/matmul): the hardware prefetcher
  // follows each row stream only within a page, so the next rows' lines are requested early.
  const std::int64_t ahead = kPrefetchRows * w.row_stride * elem;
  for (std::int64_t i = 0; i < n_vec; i += V::width) {
    typename V::reg xv[NT];
    for (int b = 0; b < NT; ++b) xv[b] = V::load(x + b * x_stride + i);
    for (int a = 0; a < R; ++a) {
      _mm_prefetch(static_cast<const char*>(rows[a]) + ahead + i * elem, _MM_HINT_T0);
      const typename V::reg wv = load_weights<V, T>(rows[a], i);
      for (int b = 0; b < NT; ++b) acc[a][b] = V::fma(wv, xv[b], acc[a][b]);
    }
  }
  for (int a = 0; a < R; ++a) {
    for (int b = 0; b < NT; ++b) {
      float s = V::hsum(acc[a][b]);
      for (std::int64_t i = n_vec; i < n; ++i) s += scalar_weight(rows[a], T, i) * x[b * x_stride + i];
      y[b * y_stride + r + a] = s;
    }
  }
}

template <class V, DType T, int NT>
inline void matmul_tokens(const MatrixView& w, const float* x, std::int64_t x_stride, float* y,
                          std::int64_t y_stride, std::int64_t r0, std::int64_t r1) {
  constexpr int R = 4;
  std::int64_t r = r0;
  for (; r + R <= r1; r += R) matmul_tile<V, T, R, NT>(w, r, x, x_stride, y, y_stride);
  for (; r < r1; ++r) matmul_tile<V, T, 1, NT>(w, r, x, x_stride, y, y_stride);
}

// Up to this many tokens the rows go one at a time: a 4-row tile reads 4 streams a row apart, which
// one Zen 4 core streamed at 12-14 GB/s against 30-33 GB/s for one sequential stream (a read loop
// with vdpbf16ps, 2 KiB and 6 KiB rows), and decode of one or two sequences waits on exactly that.
// A row sums in the same order in either tile, so a sequence's bits do not change with the batch.
constexpr std::int64_t kOneRowTokens = 2;

template <class V, DType T>
void matmul_typed(const MatrixView& w, const float* x, std::int64_t x_stride, std::int64_t n_tokens, float* y,
                  std::int64_t y_stride, std::int64_t r0, std::int64_t r1) {
  static_assert(kOneRowTokens == 2, "one-row tiles below are written for 1 and 2 tokens");
  if (n_tokens >= 1 && n_tokens <= kOneRowTokens) {
    for (std::int64_t r = r0; r < r1; ++r) {
      if (n_tokens == 2) matmul_tile<V, T, 1, 2>(w, r, x, x_stride, y, y_stride);
      else matmul_tile<V, T, 1, 1>(w, r, x, x_stride, y, y_stride);
    }
    return;
  }
  constexpr int NT = V::token_tile;
  // Cache blocking for prefill: a block of 32 weight rows (64 KiB of bf16 at 1024 columns) stays in
  // L2 while every token tile passes over it, so the weights are read from memory once per call.
  constexpr std::int64_t kRowBlock = 32;
  for (std::int64_t rb = r0; rb < r1; rb += kRowBlock) {
    const std::int64_t re = std::min(rb + kRowBlock, r1);
    std::int64_t t = 0;
    for (; t + NT <= n_tokens; t += NT)
      matmul_tokens<V, T, NT>(w, x + t * x_stride, x_stride, y + t * y_stride, y_stride, rb, re);
    for (; t < n_tokens; ++t) matmul_tokens<V, T, 1>(w, x + t * x_stride, x_stride, y + t * y_stride, y_stride, rb, re);
  }
}

// Q8 weights (the default product; --decode-rows int8 takes the W8A8 kernels instead): each token's
// activations quantized to int16 per block (kernels/q8.hpp), each block's 32 products summed exactly
// in int32 (V::block_dot_i16) and added to its (row, token) accumulator times scale_w x scale_x. Every
// (row, token) sum runs over the blocks in order in every tile shape: batch invariant.
template <class V, int R, int NT>
inline void q8_i16_tile(const MatrixView& w, std::int64_t r, const std::int16_t* xq, const float* xs, float* y, std::int64_t y_stride) {
  const std::int64_t blocks = w.cols / kQ8Block;
  typename V::reg acc[R][NT];
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NT; ++b) acc[a][b] = V::zero();
  const std::int8_t* rows[R];
  const std::uint16_t* row_scales[R];
  for (int a = 0; a < R; ++a) {
    rows[a] = static_cast<const std::int8_t*>(w.row(r + a));
    row_scales[a] = w.scales + (r + a) * w.scale_stride;
  }
  const std::int64_t ahead = kPrefetchRows * w.row_stride;
  for (std::int64_t k = 0; k < blocks; ++k) {
    for (int a = 0; a < R; ++a) {
      if (k % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(rows[a] + ahead + k * kQ8Block), _MM_HINT_T0);
      const float w_scale = _cvtsh_ss(row_scales[a][k]);
      const typename V::wide_block wb = V::widen_block(rows[a] + k * kQ8Block);
      for (int b = 0; b < NT; ++b) {
        const typename V::reg dot = V::block_dot_i16(wb, xq + b * w.cols + k * kQ8Block);
        acc[a][b] = V::fma(dot, V::set1(w_scale * xs[b * blocks + k]), acc[a][b]);
      }
    }
  }
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NT; ++b) y[b * y_stride + r + a] = V::hsum(acc[a][b]);
}

template <class V, int NT>
inline void q8_i16_rows(const MatrixView& w, const std::int16_t* xq, const float* xs, float* y, std::int64_t y_stride, std::int64_t r0,
                        std::int64_t r1, bool one_row) {
  std::int64_t r = r0;
  if (!one_row)
    for (; r + 4 <= r1; r += 4) q8_i16_tile<V, 4, NT>(w, r, xq, xs, y, y_stride);
  for (; r < r1; ++r) q8_i16_tile<V, 1, NT>(w, r, xq, xs, y, y_stride);
}

template <class V>
void matmul_q8_i16(const MatrixView& w, const float* x, std::int64_t x_stride, std::int64_t n_tokens, float* y, std::int64_t y_stride,
                   std::int64_t r0, std::int64_t r1) {
  const std::int64_t blocks = w.cols / kQ8Block;
  thread_local std::vector<std::int16_t> xq;
  thread_local std::vector<float> xs;
  xq.resize(static_cast<std::size_t>(n_tokens * w.cols));
  xs.resize(static_cast<std::size_t>(n_tokens * blocks));
  for (std::int64_t t = 0; t < n_tokens; ++t) quantize_i16_activations(x + t * x_stride, w.cols, xq.data() + t * w.cols, xs.data() + t * blocks);
  const bool one_row = n_tokens <= kOneRowTokens;  // one sequential stream per thread (see matmul_typed)
  constexpr int NT = V::token_tile;
  constexpr std::int64_t kRowBlock = 32;  // rows kept in L2 while the token tiles pass (see matmul_typed)
  for (std::int64_t rb = r0; rb < r1; rb += kRowBlock) {
    const std::int64_t re = std::min(rb + kRowBlock, r1);
    std::int64_t t = 0;
    for (; t + NT <= n_tokens; t += NT)
      q8_i16_rows<V, NT>(w, xq.data() + t * w.cols, xs.data() + t * blocks, y + t * y_stride, y_stride, rb, re, one_row);
    for (; t < n_tokens; ++t)
      q8_i16_rows<V, 1>(w, xq.data() + t * w.cols, xs.data() + t * blocks, y + t * y_stride, y_stride, rb, re, one_row);
  }
}

template <class V>
void matmul(const MatrixView& w, const float* x, std::int64_t x_stride, std::int64_t n_tokens, float* y,
            std::int64_t y_stride, std::int64_t r0, std::int64_t r1) {
  switch (w.dtype) {
    case DType::BF16: return matmul_typed<V, DType::BF16>(w, x, x_stride, n_tokens, y, y_stride, r0, r1);
    case DType::F16: return matmul_typed<V, DType::F16>(w, x, x_stride, n_tokens, y, y_stride, r0, r1);
    case DType::Q8: return matmul_q8_i16<V>(w, x, x_stride, n_tokens, y, y_stride, r0, r1);
    default: return matmul_typed<V, DType::F32>(w, x, x_stride, n_tokens, y, y_stride, r0, r1);
  }
}

constexpr std::int64_t kCacheLine = 64;

template <KvType K>
constexpr std::int64_t kv_bytes() {
  return K == KvType::BF16 ? 2 : K == KvType::Q8 ? 1 : 4;
}

// Requests the cache lines of [element, element + n) of `region` (nullptr: nothing); see `prefetch`
// in kernels.hpp.
template <KvType K>
inline void prefetch_elements(const void* region, std::int64_t element, std::int64_t n) {
  if (!region) return;
  const char* p = static_cast<const char*>(region) + element * kv_bytes<K>();
  for (std::int64_t b = 0; b < n * kv_bytes<K>(); b += kCacheLine) _mm_prefetch(p + b, _MM_HINT_T0);
}

// Q8 rows are read unscaled: a key's scale multiplies its score once, a value's scale its weight p.
template <class V, KvType K>
inline typename V::reg load_kv(const void* base, std::int64_t i) {
  if constexpr (K == KvType::BF16) return V::load_bf16(static_cast<const std::uint16_t*>(base) + i);
  else if constexpr (K == KvType::Q8) return V::load_i8(static_cast<const std::int8_t*>(base) + i);
  else return V::load(static_cast<const float*>(base) + i);
}

inline float scalar_kv(const void* base, KvType t, std::int64_t i) {
  switch (t) {
    case KvType::BF16: return bf16_to_f32(static_cast<const std::uint16_t*>(base)[i]);
    case KvType::Q8: return static_cast<float>(static_cast<const std::int8_t*>(base)[i]);
    default: return static_cast<const float*>(base)[i];
  }
}

// The factor row j of a KV head's rows carries: its Q8 scale, else 1.
template <KvType K>
inline float row_scale(const float* scales, std::int64_t j) {
  if constexpr (K == KvType::Q8) return scales[j];
  else return 1.f;
}

// The longest head_dim whose query rows are split into pairs on the stack; longer heads (none in
// Qwen3) take the in-order path throughout.
constexpr std::int64_t kMaxPairedHeadDim = 512;

// R query rows x J keys of scaled dot products, every key vector loaded once for all R rows. R and J
// are compile-time so the R*J accumulators live in registers (a runtime row count kept them on the
// stack: 22 ns per key for a GQA pair on AVX-512 with bf16 keys, against 8 ns now). For bf16 keys,
// dims [0, d_pairs) come from q_pairs ([R][d_pairs], split as V::deinterleave does), the rest in order.
template <class V, KvType K, int R, int J>
inline void scores_panel(const float* q, const float* q_pairs, std::int64_t d_pairs, std::int64_t head_dim,
                         const void* k, const float* k_scales, std::int64_t j0, std::int64_t n_keys, float scale, float* scores,
                         const void* prefetch) {
  const std::int64_t d_vec = head_dim - head_dim % V::width;
  typename V::reg acc[R][J];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < J; ++j) acc[r][j] = V::zero();
  // One line of the prefetch region per line of keys consumed, at the same offset.
  for (int j = 0; j < J; ++j) prefetch_elements<K>(prefetch, (j0 + j) * head_dim, head_dim);
  std::int64_t d = 0;
  if constexpr (K == KvType::BF16) {
    const auto* k16 = static_cast<const std::uint16_t*>(k);
    for (; d < d_pairs; d += 2 * V::width) {
      typename V::reg qe[R], qo[R];
      for (int r = 0; r < R; ++r) {
        qe[r] = V::load(q_pairs + r * d_pairs + d);
        qo[r] = V::load(q_pairs + r * d_pairs + d + V::width);
      }
      for (int j = 0; j < J; ++j) {
        typename V::reg even, odd;
        V::load_bf16_pairs(k16 + (j0 + j) * head_dim + d, even, odd);
        for (int r = 0; r < R; ++r) acc[r][j] = V::fma(qo[r], odd, V::fma(qe[r], even, acc[r][j]));
      }
    }
  }
  for (; d < d_vec; d += V::width) {
    typename V::reg kv[J];
    for (int j = 0; j < J; ++j) kv[j] = load_kv<V, K>(k, (j0 + j) * head_dim + d);
    for (int r = 0; r < R; ++r) {
      const typename V::reg qv = V::load(q + r * head_dim + d);
      for (int j = 0; j < J; ++j) acc[r][j] = V::fma(qv, kv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float sums[J];
    if constexpr (J % 4 == 0) {
      for (int j = 0; j < J; j += 4) V::hsum4(acc[r][j], acc[r][j + 1], acc[r][j + 2], acc[r][j + 3], sums + j);
    } else {
      for (int j = 0; j < J; ++j) sums[j] = V::hsum(acc[r][j]);
    }
    for (int j = 0; j < J; ++j) {
      float s = sums[j];
      for (std::int64_t d = d_vec; d < head_dim; ++d) s += q[r * head_dim + d] * scalar_kv(k, K, (j0 + j) * head_dim + d);
      if constexpr (K == KvType::Q8) s *= row_scale<K>(k_scales, j0 + j);
      scores[r * n_keys + j0 + j] = scale * s;
    }
  }
}

template <class V, KvType K, int R>
inline void scores_rows(const float* q, const void* k, const float* k_scales, std::int64_t n_keys, std::int64_t head_dim, float scale,
                        float* scores, const void* prefetch) {
  constexpr int J = V::score_keys;
  std::int64_t d_pairs = 0;
  alignas(64) float q_pairs[K == KvType::BF16 ? R * kMaxPairedHeadDim : 1];
  if constexpr (K == KvType::BF16) {
    if (head_dim <= kMaxPairedHeadDim) d_pairs = head_dim - head_dim % (2 * V::width);
    for (int r = 0; r < R; ++r) {
      for (std::int64_t d = 0; d < d_pairs; d += 2 * V::width) {
        typename V::reg even, odd;
        V::deinterleave(V::load(q + r * head_dim + d), V::load(q + r * head_dim + d + V::width), even, odd);
        V::store(q_pairs + r * d_pairs + d, even);
        V::store(q_pairs + r * d_pairs + d + V::width, odd);
      }
    }
  }
  std::int64_t j = 0;
  for (; j + J <= n_keys; j += J)
    scores_panel<V, K, R, J>(q, q_pairs, d_pairs, head_dim, k, k_scales, j, n_keys, scale, scores, prefetch);
  for (; j < n_keys; ++j) scores_panel<V, K, R, 1>(q, q_pairs, d_pairs, head_dim, k, k_scales, j, n_keys, scale, scores, prefetch);
}

template <class V, KvType K>
void scores_typed(const float* q, std::int64_t n_q, const void* k, const float* k_scales, std::int64_t n_keys, std::int64_t head_dim,
                  float scale, float* scores, const void* prefetch) {
  // Pairs of query rows share each key load (decode with a GQA group of 2 is one pair per KV head).
  // The first pair alone prefetches: the others would request the same lines again.
  std::int64_t i = 0;
  for (; i + 2 <= n_q; i += 2, prefetch = nullptr)
    scores_rows<V, K, 2>(q + i * head_dim, k, k_scales, n_keys, head_dim, scale, scores + i * n_keys, prefetch);
  if (i < n_q) scores_rows<V, K, 1>(q + i * head_dim, k, k_scales, n_keys, head_dim, scale, scores + i * n_keys, prefetch);
}

template <class V>
void attention_scores(const float* q, std::int64_t n_q, KvRows k, std::int64_t n_keys, std::int64_t head_dim, float scale, float* scores,
                      const void* prefetch) {
  switch (k.type) {
    case KvType::BF16: return scores_typed<V, KvType::BF16>(q, n_q, k.data, nullptr, n_keys, head_dim, scale, scores, prefetch);
    case KvType::Q8: return scores_typed<V, KvType::Q8>(q, n_q, k.data, k.scales, n_keys, head_dim, scale, scores, prefetch);
    case KvType::F32: break;
  }
  return scores_typed<V, KvType::F32>(q, n_q, k.data, nullptr, n_keys, head_dim, scale, scores, prefetch);
}

// R rows x C column vectors of o += P V held in registers while the n_keys value rows stream past.
// Enough independent accumulators (R*C) hide the FMA latency: with one column chunk per pass, each
// accumulator was a chain of n_keys dependent FMAs and the kernel waited on FMA latency.
template <class V, KvType K, int R, int C>
inline void accumulate_panel(const float* p, std::int64_t n_keys, const void* v, const float* v_scales, std::int64_t head_dim,
                             std::int64_t d0, const float* o_scale, float* o, std::int64_t o_stride,
                             const void* prefetch) {
  typename V::reg acc[R][C];
  for (int r = 0; r < R; ++r) {
    const typename V::reg scale = V::set1(o_scale ? o_scale[r] : 1.f);
    for (int c = 0; c < C; ++c) acc[r][c] = V::mul(scale, V::load(o + r * o_stride + d0 + c * V::width));
  }
  for (std::int64_t j = 0; j < n_keys; ++j) {
    prefetch_elements<K>(prefetch, j * head_dim + d0, C * V::width);
    typename V::reg vv[C];
    for (int c = 0; c < C; ++c) vv[c] = load_kv<V, K>(v, j * head_dim + d0 + c * V::width);
    for (int r = 0; r < R; ++r) {
      const typename V::reg pr = V::set1(K == KvType::Q8 ? p[r * n_keys + j] * row_scale<K>(v_scales, j) : p[r * n_keys + j]);
      for (int c = 0; c < C; ++c) acc[r][c] = V::fma(pr, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) V::store(o + r * o_stride + d0 + c * V::width, acc[r][c]);
}

// accumulate_panel for bf16 values read in pairs of vectors: P pairs (2*P*width columns) per row, the
// accumulators in even/odd order, o split on load and interleaved on store.
template <class V, int R, int P>
inline void accumulate_pairs_panel(const float* p, std::int64_t n_keys, const std::uint16_t* v, std::int64_t head_dim,
                                   std::int64_t d0, const float* o_scale, float* o, std::int64_t o_stride,
                                   const void* prefetch) {
  typename V::reg acc_even[R][P], acc_odd[R][P];
  for (int r = 0; r < R; ++r) {
    const typename V::reg scale = V::set1(o_scale ? o_scale[r] : 1.f);
    for (int c = 0; c < P; ++c) {
      const float* src = o + r * o_stride + d0 + 2 * c * V::width;
      typename V::reg even, odd;
      V::deinterleave(V::load(src), V::load(src + V::width), even, odd);
      acc_even[r][c] = V::mul(scale, even);
      acc_odd[r][c] = V::mul(scale, odd);
    }
  }
  for (std::int64_t j = 0; j < n_keys; ++j) {
    prefetch_elements<KvType::BF16>(prefetch, j * head_dim + d0, 2 * P * V::width);
    typename V::reg ve[P], vo[P];
    for (int c = 0; c < P; ++c) V::load_bf16_pairs(v + j * head_dim + d0 + 2 * c * V::width, ve[c], vo[c]);
    for (int r = 0; r < R; ++r) {
      const typename V::reg pr = V::set1(p[r * n_keys + j]);
      for (int c = 0; c < P; ++c) {
        acc_even[r][c] = V::fma(pr, ve[c], acc_even[r][c]);
        acc_odd[r][c] = V::fma(pr, vo[c], acc_odd[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < P; ++c) {
      float* dst = o + r * o_stride + d0 + 2 * c * V::width;
      typename V::reg a, b;
      V::interleave(acc_even[r][c], acc_odd[r][c], a, b);
      V::store(dst, a);
      V::store(dst + V::width, b);
    }
  }
}

template <class V, KvType K, int R>
inline void accumulate_rows(const float* p, std::int64_t n_keys, const void* v, const float* v_scales, std::int64_t head_dim,
                            const float* o_scale, float* o, std::int64_t o_stride, const void* prefetch) {
  constexpr int C = V::accumulate_chunks;
  const std::int64_t d_vec = head_dim - head_dim % V::width;
  std::int64_t d = 0;
  if constexpr (K == KvType::BF16) {
    static_assert(C % 2 == 0, "a panel of pairs holds an even number of vectors");
    const auto* v16 = static_cast<const std::uint16_t*>(v);
    for (; d + C * V::width <= d_vec; d += C * V::width)
      accumulate_pairs_panel<V, R, C / 2>(p, n_keys, v16, head_dim, d, o_scale, o, o_stride, prefetch);
    for (; d + 2 * V::width <= d_vec; d += 2 * V::width)
      accumulate_pairs_panel<V, R, 1>(p, n_keys, v16, head_dim, d, o_scale, o, o_stride, prefetch);
  }
  for (; d + C * V::width <= d_vec; d += C * V::width)
    accumulate_panel<V, K, R, C>(p, n_keys, v, v_scales, head_dim, d, o_scale, o, o_stride, prefetch);
  for (; d < d_vec; d += V::width) accumulate_panel<V, K, R, 1>(p, n_keys, v, v_scales, head_dim, d, o_scale, o, o_stride, prefetch);
  for (int r = 0; r < R; ++r) {
    if (o_scale)
      for (std::int64_t t = d_vec; t < head_dim; ++t) o[r * o_stride + t] *= o_scale[r];
    for (std::int64_t j = 0; j < n_keys; ++j)
      for (std::int64_t t = d_vec; t < head_dim; ++t)
        o[r * o_stride + t] += p[r * n_keys + j] * row_scale<K>(v_scales, j) * scalar_kv(v, K, j * head_dim + t);
  }
}

template <class V, KvType K>
void accumulate_typed(const float* p, std::int64_t n_q, const void* v, const float* v_scales, std::int64_t n_keys, std::int64_t head_dim,
                      const float* o_scale, float* o, std::int64_t o_stride, const void* prefetch) {
  // Pairs of rows: decode with a GQA group of 2 (Qwen3-0.6B, 1.7B) is one pair per KV head. The
  // first pair alone prefetches, as in scores_typed.
  std::int64_t i = 0;
  auto scale_at = [&](std::int64_t row) { return o_scale ? o_scale + row : nullptr; };
  for (; i + 2 <= n_q; i += 2, prefetch = nullptr)
    accumulate_rows<V, K, 2>(p + i * n_keys, n_keys, v, v_scales, head_dim, scale_at(i), o + i * o_stride, o_stride, prefetch);
  if (i < n_q)
    accumulate_rows<V, K, 1>(p + i * n_keys, n_keys, v, v_scales, head_dim, scale_at(i), o + i * o_stride, o_stride, prefetch);
}

template <class V>
void attention_accumulate(const float* p, std::int64_t n_q, KvRows v, std::int64_t n_keys, std::int64_t head_dim, const float* o_scale,
                          float* o, std::int64_t o_stride, const void* prefetch) {
  switch (v.type) {
    case KvType::BF16: return accumulate_typed<V, KvType::BF16>(p, n_q, v.data, nullptr, n_keys, head_dim, o_scale, o, o_stride, prefetch);
    case KvType::Q8: return accumulate_typed<V, KvType::Q8>(p, n_q, v.data, v.scales, n_keys, head_dim, o_scale, o, o_stride, prefetch);
    case KvType::F32: break;
  }
  return accumulate_typed<V, KvType::F32>(p, n_q, v.data, nullptr, n_keys, head_dim, o_scale, o, o_stride, prefetch);
}

template <class V>
float exp_shifted_sum(float* x, std::int64_t n, float shift) {
  const typename V::reg m = V::set1(shift);
  typename V::reg acc = V::zero();
  std::int64_t j = 0;
  for (; j + V::width <= n; j += V::width) {
    const typename V::reg e = V::exp(V::sub(V::load(x + j), m));
    V::store(x + j, e);
    acc = V::add(acc, e);
  }
  float sum = V::hsum(acc);
  for (; j < n; ++j) {
    x[j] = std::exp(x[j] - shift);
    sum += x[j];
  }
  return sum;
}

template <class V, DType T>
void widen_rows_typed(const MatrixView& w, std::int64_t r0, std::int64_t n_rows, float* out) {
  const std::int64_t n = w.cols, n_vec = n - n % V::width;
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const void* row = w.row(r0 + r);
    float* dst = out + r * n;
    for (std::int64_t i = 0; i < n_vec; i += V::width) V::store(dst + i, load_weights<V, T>(row, i));
    for (std::int64_t i = n_vec; i < n; ++i) dst[i] = scalar_weight(row, T, i);
  }
}

template <class V>
void widen_rows(const MatrixView& w, std::int64_t r0, std::int64_t n_rows, float* out) {
  switch (w.dtype) {
    case DType::BF16: return widen_rows_typed<V, DType::BF16>(w, r0, n_rows, out);
    case DType::F16: return widen_rows_typed<V, DType::F16>(w, r0, n_rows, out);
    case DType::Q8:  // one pass of multiplies: the embedding row of a token, or a prefill tile
      for (std::int64_t r = 0; r < n_rows; ++r)
        dequantize_q8(static_cast<const std::int8_t*>(w.row(r0 + r)), w.scales + (r0 + r) * w.scale_stride, w.cols, out + r * w.cols);
      return;
    default: return widen_rows_typed<V, DType::F32>(w, r0, n_rows, out);
  }
}
