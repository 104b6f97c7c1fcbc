// Scalar reference kernels: plain loops in the order the math is written, accumulating in double so
// the reference itself carries no float summation error. Every SIMD variant is tested against these;
// they are also the fallback on CPUs without AVX2.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/kernels.hpp"
#include "kernels/q8.hpp"

namespace qwen3::kernels {
namespace {

struct Bf16 { const std::uint16_t* p; };
struct F16 { const std::uint16_t* p; };

template <class Row>
float dot_row(Row row, const float* x, std::int64_t n);

template <>
float dot_row<const float*>(const float* w, const float* x, std::int64_t n) {
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(w[i]) * x[i];
  return static_cast<float>(s);
}
template <>
float dot_row<Bf16>(Bf16 w, const float* x, std::int64_t n) {
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(bf16_to_f32(w.p[i])) * x[i];
  return static_cast<float>(s);
}
template <>
float dot_row<F16>(F16 w, const float* x, std::int64_t n) {
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(f16_to_f32(w.p[i])) * x[i];
  return static_cast<float>(s);
}

// Q8 weights on the activations quantized to int16 as every level quantizes them (once per token):
// each block's integer dot exact, scaled and summed in double.
void matmul_q8_i16(const MatrixView& w, const float* x, std::int64_t x_stride, std::int64_t n_tokens, float* y, std::int64_t y_stride,
                   std::int64_t r0, std::int64_t r1) {
  const std::int64_t blocks = w.cols / kQ8Block;
  std::vector<std::int16_t> xq(static_cast<std::size_t>(n_tokens * w.cols));
  std::vector<float> xs(static_cast<std::size_t>(n_tokens * blocks));
  for (std::int64_t t = 0; t < n_tokens; ++t) quantize_i16_activations(x + t * x_stride, w.cols, xq.data() + t * w.cols, xs.data() + t * blocks);
  for (std::int64_t r = r0; r < r1; ++r) {
    const auto* row = static_cast<const std::int8_t*>(w.row(r));
    for (std::int64_t t = 0; t < n_tokens; ++t) {
      double s = 0.0;
      for (std::int64_t b = 0; b < blocks; ++b) {
        std::int64_t dot = 0;
        for (std::int64_t i = b * kQ8Block; i < (b + 1) * kQ8Block; ++i) dot += static_cast<std::int64_t>(row[i]) * xq[static_cast<std::size_t>(t * w.cols + i)];
        s += static_cast<double>(dot) * f16_to_f32(w.scales[r * w.scale_stride + b]) * xs[static_cast<std::size_t>(t * blocks + b)];
      }
      y[t * y_stride + r] = static_cast<float>(s);
    }
  }
}

void matmul(const MatrixView& w, const float* x, std::int64_t x_stride, std::int64_t n_tokens, float* y,
            std::int64_t y_stride, std::int64_t r0, std::int64_t r1) {
  if (w.dtype == DType::Q8) return matmul_q8_i16(w, x, x_stride, n_tokens, y, y_stride, r0, r1);
  for (std::int64_t r = r0; r < r1; ++r) {
    const void* row = w.row(r);
    for (std::int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * x_stride;
      float s = 0.f;
      switch (w.dtype) {
        case DType::BF16: s = dot_row(Bf16{static_cast<const std::uint16_t*>(row)}, xt, w.cols); break;
        case DType::F16: s = dot_row(F16{static_cast<const std::uint16_t*>(row)}, xt, w.cols); break;
        default: s = dot_row(static_cast<const float*>(row), xt, w.cols); break;
      }
      y[t * y_stride + r] = s;
    }
  }
}

// Element d of row j of a KV head's rows, widened (and for Q8 scaled) to f32.
float kv_at(const KvRows& rows, std::int64_t head_dim, std::int64_t j, std::int64_t d) {
  const std::int64_t i = j * head_dim + d;
  switch (rows.type) {
    case KvType::F32: return static_cast<const float*>(rows.data)[i];
    case KvType::BF16: return bf16_to_f32(static_cast<const std::uint16_t*>(rows.data)[i]);
    case KvType::Q8: return static_cast<float>(static_cast<const std::int8_t*>(rows.data)[i]) * rows.scales[j];
  }
  return 0.f;
}

void attention_scores(const float* q, std::int64_t n_q, KvRows k, std::int64_t n_keys, std::int64_t head_dim, float scale,
                      float* scores, const void* /*prefetch: the referee keeps it simple*/) {
  for (std::int64_t i = 0; i < n_q; ++i) {
    for (std::int64_t j = 0; j < n_keys; ++j) {
      double s = 0.0;
      for (std::int64_t d = 0; d < head_dim; ++d) s += static_cast<double>(q[i * head_dim + d]) * kv_at(k, head_dim, j, d);
      scores[i * n_keys + j] = scale * static_cast<float>(s);
    }
  }
}

void attention_accumulate(const float* p, std::int64_t n_q, KvRows v, std::int64_t n_keys, std::int64_t head_dim,
                          const float* o_scale, float* o, std::int64_t o_stride, const void* /*prefetch: the referee keeps it simple*/) {
  for (std::int64_t i = 0; i < n_q; ++i) {
    if (o_scale)
      for (std::int64_t d = 0; d < head_dim; ++d) o[i * o_stride + d] *= o_scale[i];
    for (std::int64_t j = 0; j < n_keys; ++j) {
      const float pj = p[i * n_keys + j];
      for (std::int64_t d = 0; d < head_dim; ++d) o[i * o_stride + d] += pj * kv_at(v, head_dim, j, d);
    }
  }
}

void widen_rows(const MatrixView& w, std::int64_t r0, std::int64_t n_rows, float* out) {
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const void* row = w.row(r0 + r);
    float* dst = out + r * w.cols;
    for (std::int64_t c = 0; c < w.cols; ++c) {
      switch (w.dtype) {
        case DType::BF16: dst[c] = bf16_to_f32(static_cast<const std::uint16_t*>(row)[c]); break;
        case DType::F16: dst[c] = f16_to_f32(static_cast<const std::uint16_t*>(row)[c]); break;
        case DType::Q8: dst[c] = static_cast<const std::int8_t*>(row)[c] * f16_to_f32(w.scales[(r0 + r) * w.scale_stride + c / kQ8Block]); break;
        default: dst[c] = static_cast<const float*>(row)[c]; break;
      }
    }
  }
}

float exp_shifted_sum(float* x, std::int64_t n, float shift) {
  double sum = 0.0;
  for (std::int64_t j = 0; j < n; ++j) {
    x[j] = std::exp(x[j] - shift);  // exp(-inf) = 0: masked keys drop out
    sum += x[j];
  }
  return static_cast<float>(sum);
}

}  // namespace

const KernelTable& scalar_kernels() {
  static const KernelTable table{Isa::Scalar, &matmul, &attention_scores, &attention_accumulate, &exp_shifted_sum, &widen_rows};
  return table;
}

void scalar_matmul_q8(const MatrixView& w, const Q8Activations& x, float* y, std::int64_t y_stride, std::int64_t r0, std::int64_t r1) {
  const std::int64_t blocks = w.cols / kQ8Block;
  for (std::int64_t r = r0; r < r1; ++r) {
    const auto* row = static_cast<const std::int8_t*>(w.row(r));
    const std::uint16_t* w_scales = w.scales + r * w.scale_stride;
    for (std::int64_t t = 0; t < x.n_tokens; ++t) {
      const std::int8_t* xq = x.q + t * w.cols;
      double s = 0.0;
      for (std::int64_t b = 0; b < blocks; ++b) {
        std::int32_t dot = 0;
        for (std::int64_t i = b * kQ8Block; i < (b + 1) * kQ8Block; ++i) dot += row[i] * xq[i];
        s += static_cast<double>(dot) * f16_to_f32(w_scales[b]) * x.scales[t * blocks + b];
      }
      y[t * y_stride + r] = static_cast<float>(s);
    }
  }
}

void scalar_matmul_bf16(const MatrixView& w, const std::uint16_t* x, std::int64_t x_stride, std::int64_t n_tokens, float* y,
                        std::int64_t y_stride, std::int64_t r0, std::int64_t r1) {
  for (std::int64_t r = r0; r < r1; ++r) {
    const auto* row = static_cast<const std::uint16_t*>(w.row(r));
    for (std::int64_t t = 0; t < n_tokens; ++t) {
      const std::uint16_t* xt = x + t * x_stride;
      double s = 0.0;
      for (std::int64_t i = 0; i < w.cols; ++i) s += static_cast<double>(bf16_to_f32(row[i])) * bf16_to_f32(xt[i]);
      y[t * y_stride + r] = static_cast<float>(s);
    }
  }
}

}  // namespace qwen3::kernels
