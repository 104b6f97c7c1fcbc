#pragma once
// Helpers shared by the test folders: test data paths, fixture tensors, kernel variants on this host.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.hpp"
#include "kernels/kernels.hpp"
#include "qwen3/safetensors.hpp"

namespace qwen3::test {

inline std::filesystem::path data_dir() { return QWEN3_TEST_DATA_DIR; }
inline std::filesystem::path model_dir(const std::string& name) { return data_dir() / "models" / name; }

template <class T>
std::vector<T> read_tensor(const SafetensorsFile& f, const std::string& name) {
  const TensorView* t = f.find(name);
  if (!t) throw std::runtime_error(f.path().string() + ": no tensor " + name + " (re-run scripts/make_fixtures.py)");
  const auto s = t->as<T>();
  return {s.begin(), s.end()};
}

// Every numeric comparison in the suite goes through these two, and both return +inf as soon as either
// side holds a NaN or an infinity: std::max(m, NaN) keeps m, so a fold with std::max alone lets a
// kernel that produces NaN pass any tolerance.
inline float max_abs_diff(const float* a, const float* b, std::size_t n) {
  float m = 0.f;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return std::numeric_limits<float>::infinity();
    m = std::max(m, std::fabs(a[i] - b[i]));
  }
  return m;
}

// Largest violation of |got - want| <= atol + rtol*|want|; <= 0 means every element is within bound,
// +inf means a non-finite value on either side.
inline float worst_excess(const std::vector<float>& got, const std::vector<float>& want, float atol = 1e-5f,
                          float rtol = 1e-5f) {
  if (got.size() != want.size()) return std::numeric_limits<float>::infinity();
  float worst = -1.f;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return std::numeric_limits<float>::infinity();
    worst = std::max(worst, std::fabs(got[i] - want[i]) - (atol + rtol * std::fabs(want[i])));
  }
  return worst;
}

// Why this process may not run the kernels of `isa`, as a skip reason in the suite's convention
// ("requires avx512: ...", which scripts/check_skips.sh reads), or empty when it may. What counts is
// what detect_cpu_features() reports: the CPU and OS, lowered by QWEN3_MAX_ISA when that is set.
inline std::string missing_isa(kernels::Isa isa) {
  if (isa == kernels::Isa::Scalar) return {};
  const bool avx512 = isa == kernels::Isa::Avx512;
  const std::string feature = avx512 ? "avx512" : "avx2";
  if (!(avx512 ? kernels::avx512_kernels() : kernels::avx2_kernels()))
    return "requires " + feature + ": this build has no " + feature + " kernels (not an x86-64 build)";
  const kernels::CpuFeatures cpu = kernels::detect_cpu_features();
  if (avx512 ? cpu.has_avx512_set() : cpu.has_avx2_set()) return {};
  return "requires " + feature + ": " + (avx512 ? "avx512f/bw/vl" : "avx2+fma+f16c") +
         " not among this process's CPU features (" + cpu.describe() + ")";
}

// The kernels of `isa`; only where missing_isa(isa) is empty.
inline const kernels::KernelTable& kernel_table(kernels::Isa isa) {
  switch (isa) {
    case kernels::Isa::Avx2: return *kernels::avx2_kernels();
    case kernels::Isa::Avx512: return *kernels::avx512_kernels();
    case kernels::Isa::Scalar: break;
  }
  return kernels::scalar_kernels();
}

// The kernel variants this host can run, scalar first.
inline std::vector<const kernels::KernelTable*> host_kernel_tables() {
  const kernels::CpuFeatures cpu = kernels::detect_cpu_features();
  std::vector<const kernels::KernelTable*> out{&kernels::scalar_kernels()};
  if (cpu.has_avx2_set() && kernels::avx2_kernels()) out.push_back(kernels::avx2_kernels());
  if (cpu.has_avx512_set() && kernels::avx512_kernels()) out.push_back(kernels::avx512_kernels());
  return out;
}

inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace qwen3::test
