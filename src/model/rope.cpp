#include "model/rope.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace qwen3 {
namespace {

// YaRN's attention scaling for a context `scale` times the original: 0.1 * m * ln(scale) + 1.
double yarn_mscale(double scale, double m = 1.0) { return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

// The dimension whose wavelength turns `rotations` times over the original context.
double correction_dim(double rotations, double dim, double base, double original_context) {
  return dim * std::log(original_context / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

}  // namespace

RopeFrequencies plain_rope(std::int64_t head_dim, double theta) {
  RopeFrequencies r;
  r.inv_freq.resize(static_cast<std::size_t>(head_dim / 2));
  for (std::int64_t i = 0; i < head_dim / 2; ++i)
    r.inv_freq[static_cast<std::size_t>(i)] = static_cast<float>(1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(head_dim)));
  return r;
}

RopeFrequencies rope_frequencies(const Qwen3Config& cfg) {
  if (!cfg.rope_scaling) return plain_rope(cfg.head_dim, cfg.rope_theta);
  const RopeScaling& y = *cfg.rope_scaling;
  const double dim = static_cast<double>(cfg.head_dim), base = cfg.rope_theta, factor = y.factor;
  const double original = static_cast<double>(y.original_max_position_embeddings ? y.original_max_position_embeddings : cfg.max_position_embeddings);
  RopeFrequencies r;
  // transformers reads unset (or 0) mscale fields and betas as absent: `x or default`.
  if (y.attention_factor) r.attention_factor = static_cast<float>(*y.attention_factor);
  else if (y.mscale.value_or(0) != 0 && y.mscale_all_dim.value_or(0) != 0)
    r.attention_factor = static_cast<float>(yarn_mscale(factor, *y.mscale) / yarn_mscale(factor, *y.mscale_all_dim));
  else r.attention_factor = static_cast<float>(yarn_mscale(factor));
  const double beta_fast = y.beta_fast.value_or(0) != 0 ? *y.beta_fast : 32.0;
  const double beta_slow = y.beta_slow.value_or(0) != 0 ? *y.beta_slow : 1.0;
  // The dimensions below `low` keep their frequency (extrapolation), those past `high` are divided by
  // the factor (interpolation), a linear ramp between; in double, as transformers does in Python.
  double low = correction_dim(beta_fast, dim, base, original), high = correction_dim(beta_slow, dim, base, original);
  if (y.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, dim - 1);
  if (low == high) high += 0.001;  // no division by zero in the ramp
  // Then each frequency in f32, step by step as transformers' float32 tensors compute it (the
  // whole computation in double and rounded at the end differs by an ulp in 13 of Qwen3's 64).
  const float f_dim = static_cast<float>(dim), f_factor = static_cast<float>(factor), f_low = static_cast<float>(low);
  const float f_span = static_cast<float>(high - low);
  r.inv_freq.resize(static_cast<std::size_t>(cfg.head_dim / 2));
  for (std::int64_t i = 0; i < cfg.head_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / f_dim;
    const float pos_freq = static_cast<float>(std::pow(static_cast<double>(static_cast<float>(base)), static_cast<double>(exponent)));
    const float extrapolation = 1.f / pos_freq;
    const float interpolation = 1.f / (f_factor * pos_freq);
    const float ramp = std::clamp((static_cast<float>(i) - f_low) / f_span, 0.f, 1.f);
    const float keep = 1.f - ramp;  // transformers' inv_freq_extrapolation_factor
    const float interp_weight = 1.f - keep;
    const float a = interpolation * interp_weight;  // two roundings, as torch's two tensor ops
    const float b = extrapolation * keep;
    r.inv_freq[static_cast<std::size_t>(i)] = a + b;
  }
  return r;
}

}  // namespace qwen3
