#include "kernels/q8.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/convert.hpp"

namespace qwen3::kernels {
namespace {

// Round to nearest even for |v| < 2^22 by adding and removing 1.5 * 2^23: two adds the compiler
// vectorizes on every ISA level (std::nearbyint is a libm call without SSE4.1), and the same bits on
// all of them (IEEE arithmetic: the build has no -ffast-math, which would fold them away).
inline float round_even(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

inline float block_amax(const float* x, std::int64_t n = kQ8Block) {
  float amax = 0.f;
  for (std::int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

// q[i] = round(x[i] * inv), clamped to the symmetric range [-limit, limit] of Int (an f16-rounded scale
// may be a little small, so max|x| * inv may round to limit + 1); NaN gives 0 rather than an undefined
// conversion.
template <class Int, int limit>
inline void quantize_block(const float* x, float inv, Int* q, std::int64_t n = kQ8Block) {
  constexpr float lim = static_cast<float>(limit);
  for (std::int64_t i = 0; i < n; ++i) {
    const float r = round_even(x[i] * inv);
    q[i] = static_cast<Int>(r >= lim ? lim : r <= -lim ? -lim : r == r ? r : 0.f);
  }
}

// Activations per block of kQ8Block with f32 scales max|x| / limit.
template <class Int, int limit>
void quantize_activations(const float* x, std::int64_t n, Int* q, float* scales) {
  for (std::int64_t b = 0; b < n / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    const float amax = block_amax(xb);
    scales[b] = amax / static_cast<float>(limit);
    quantize_block<Int, limit>(xb, amax > 0.f ? static_cast<float>(limit) / amax : 0.f, q + b * kQ8Block);
  }
}

std::array<float, 256> make_fp8_table() {
  std::array<float, 256> t{};
  for (int v = 0; v < 256; ++v) {
    const int exp = (v >> 3) & 0xf, mant = v & 7;
    float mag;
    if (exp == 0xf && mant == 7) mag = std::nanf("");
    else if (exp == 0) mag = std::ldexp(static_cast<float>(mant), -9);  // subnormal: mant/8 * 2^-6
    else mag = std::ldexp(1.f + static_cast<float>(mant) / 8.f, exp - 7);
    t[static_cast<std::size_t>(v)] = (v & 0x80) ? -mag : mag;
  }
  return t;
}

float fp8_scale(const MatrixView& m, std::int64_t r, std::int64_t c) {
  const Fp8Scales& s = *m.fp8;
  const std::int64_t i = (m.origin_row + r) / s.block_rows * s.cols + (m.origin_col + c) / s.block_cols;
  switch (s.dtype) {
    case DType::BF16: return bf16_to_f32(static_cast<const std::uint16_t*>(s.data)[i]);
    case DType::F16: return f16_to_f32(static_cast<const std::uint16_t*>(s.data)[i]);
    default: return static_cast<const float*>(s.data)[i];
  }
}

}  // namespace

std::uint16_t f32_to_f16(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (x >= 0x477ff000u) return sign | 0x7c00u;  // rounds past 65504: inf
  if (x < 0x38800000u) {                        // below 2^-14: an f16 subnormal, in units of 2^-24
    float v;
    std::memcpy(&v, &x, sizeof v);
    return sign | static_cast<std::uint16_t>(round_even(v * 16777216.f));
  }
  const std::uint32_t rounded = x + 0xfffu + ((x >> 13) & 1u);
  return sign | static_cast<std::uint16_t>((rounded - 0x38000000u) >> 13);
}

float fp8_e4m3_to_f32(std::uint8_t v) {
  static const std::array<float, 256> table = make_fp8_table();
  return table[v];
}

void quantize_q8_weights(const float* x, std::int64_t n, std::int8_t* q, std::uint16_t* scales) {
  for (std::int64_t b = 0; b < n / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    scales[b] = f32_to_f16(block_amax(xb) / 127.f);
    const float scale = f16_to_f32(scales[b]);
    quantize_block<std::int8_t, 127>(xb, scale > 0.f ? 1.f / scale : 0.f, q + b * kQ8Block);
  }
}

void quantize_q8_activations(const float* x, std::int64_t n, std::int8_t* q, float* scales) {
  quantize_activations<std::int8_t, 127>(x, n, q, scales);
}

void quantize_i16_activations(const float* x, std::int64_t n, std::int16_t* q, float* scales) {
  quantize_activations<std::int16_t, 32767>(x, n, q, scales);
}

void quantize_kv_row(const float* x, std::int64_t n, std::int8_t* q, float* scale) {
  const float amax = block_amax(x, n);
  *scale = amax / 127.f;
  quantize_block<std::int8_t, 127>(x, amax > 0.f ? 127.f / amax : 0.f, q, n);
}

void dequantize_q8(const std::int8_t* q, const std::uint16_t* scales, std::int64_t n, float* out) {
  for (std::int64_t b = 0; b < n / kQ8Block; ++b) {
    const float s = f16_to_f32(scales[b]);
    for (std::int64_t i = 0; i < kQ8Block; ++i) out[b * kQ8Block + i] = static_cast<float>(q[b * kQ8Block + i]) * s;
  }
}

void scalar_dequantize_q8_bf16(const MatrixView& w, std::int64_t r0, std::int64_t n_rows, std::uint16_t* out) {
  std::vector<float> row(static_cast<std::size_t>(w.cols));
  for (std::int64_t r = 0; r < n_rows; ++r) {
    dequantize_q8(static_cast<const std::int8_t*>(w.row(r0 + r)), w.scales + (r0 + r) * w.scale_stride, w.cols, row.data());
    for (std::int64_t c = 0; c < w.cols; ++c) out[r * w.cols + c] = f32_to_bf16(row[static_cast<std::size_t>(c)]);
  }
}

void source_row_f32(const MatrixView& m, std::int64_t r, float* out) {
  const void* row = m.row(r);
  for (std::int64_t c = 0; c < m.cols; ++c) {
    switch (m.dtype) {
      case DType::BF16: out[c] = bf16_to_f32(static_cast<const std::uint16_t*>(row)[c]); break;
      case DType::F16: out[c] = f16_to_f32(static_cast<const std::uint16_t*>(row)[c]); break;
      case DType::F8_E4M3: out[c] = fp8_e4m3_to_f32(static_cast<const std::uint8_t*>(row)[c]) * fp8_scale(m, r, c); break;
      default: out[c] = static_cast<const float*>(row)[c]; break;
    }
  }
}

void quantize_matrix_q8(const MatrixView& src, std::int8_t* q, std::uint16_t* scales) {
  const std::int64_t blocks = src.cols / kQ8Block;
#pragma omp parallel
  {
    std::vector<float> row(static_cast<std::size_t>(src.cols));
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < src.rows; ++r) {
      source_row_f32(src, r, row.data());
      quantize_q8_weights(row.data(), src.cols, q + r * src.cols, scales + r * blocks);
    }
  }
}

}  // namespace qwen3::kernels
