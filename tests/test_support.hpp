#pragma once
// Helpers shared by the test folders: test data paths, fixture tensors, kernel variants on this host.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
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

inline float max_abs_diff(const float* a, const float* b, std::size_t n) {
  float m = 0.f;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
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
