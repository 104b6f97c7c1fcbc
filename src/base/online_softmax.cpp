#include "qwen3/online_softmax.hpp"

#include <algorithm>
#include <cmath>

namespace qwen3 {

void OnlineSoftmaxState::reset() const {
  m() = -std::numeric_limits<float>::infinity();
  l() = 0.f;
  std::fill(o(), o() + d_, 0.f);
}

void OnlineSoftmaxState::normalize_into(float* out) const {
  const float inv = l() > 0.f ? 1.f / l() : 0.f;
  for (std::int64_t i = 0; i < d_; ++i) out[i] = o()[i] * inv;
}

void merge(const OnlineSoftmaxState& into, const OnlineSoftmaxState& from) {
  if (from.empty()) return;
  if (into.empty()) {
    into.m() = from.m();
    into.l() = from.l();
    std::copy(from.o(), from.o() + from.head_dim(), into.o());
    return;
  }
  // Both sides are rescaled to the larger max so no exp() argument is positive (no overflow):
  //   o = o_a * exp(m_a - m) + o_b * exp(m_b - m),  l likewise.
  const float m = std::max(into.m(), from.m());
  const float a = std::exp(into.m() - m);
  const float b = std::exp(from.m() - m);
  into.m() = m;
  into.l() = into.l() * a + from.l() * b;
  for (std::int64_t i = 0; i < into.head_dim(); ++i) into.o()[i] = into.o()[i] * a + from.o()[i] * b;
}

void merge_rows(std::span<float> into, std::span<const float> from, std::int64_t head_dim) {
  const std::int64_t stride = OnlineSoftmaxState::packed_size(head_dim);
  const std::int64_t rows = static_cast<std::int64_t>(into.size()) / stride;
  for (std::int64_t r = 0; r < rows; ++r) {
    // merge() only reads `from`; the const_cast lets one state type serve both sides.
    merge(OnlineSoftmaxState(into.data() + r * stride, head_dim),
          OnlineSoftmaxState(const_cast<float*>(from.data()) + r * stride, head_dim));
  }
}

}  // namespace qwen3
