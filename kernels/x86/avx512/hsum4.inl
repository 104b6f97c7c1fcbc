// The four horizontal sums of a, b, c, d (16 floats each): each halved to 256 bits, then one
// transpose-and-add tree. Lanes 0-3 hold the sums of a, b, c and d, and each lane's tree involves only its
// own input, so hsum4_512(v, v, v, v) sums v in exactly the order it would in any other group of four.
// Included inside the anonymous namespace of each AVX-512 translation unit (avx512/, avx512_bf16/),
// which compile it with their own -m flags.
inline __m128 hsum4_512(__m512 a, __m512 b, __m512 c, __m512 d) {
  const auto half = [](__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  };
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(half(a), half(b)), _mm256_hadd_ps(half(c), half(d)));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}
