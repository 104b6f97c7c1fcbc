#pragma once
// Shared pieces of the benchmarks: median timing, the STREAM-style read-bandwidth probe, and the
// table/JSON output every benchmark writes (a table for people, JSON for plotting scripts).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "memory/page_buffer.hpp"

namespace qwen3::bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median wall seconds of `reps` calls of fn (after one warm-up call).
inline double time_median(int reps, const std::function<void()>& fn) {
  fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(t);
}

// Read bandwidth in GB/s (1e9 bytes/s): median of 5 passes summing a `bytes` float array with
// `threads` threads. The array sits in huge pages (PageBuffer), the best case the runtime's own
// weight and KV buffers also get, and is first-touched by the threads that read it.
inline double read_bandwidth_gbs(int threads, std::size_t bytes = std::size_t(1) << 30) {
  const std::size_t n = bytes / sizeof(float);
  PageBuffer buffer(bytes);
  float* a = reinterpret_cast<float*>(buffer.data());
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<float>(i & 7);
  volatile float sink = 0;
  const double secs = time_median(5, [&] {
    float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      // 32 independent partial sums: enough in-flight loads that the loop is bound by memory, not
      // by the latency of one floating-point add chain.
      float acc[32] = {};
      const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
      const std::size_t blocks = n / 32;
      const std::size_t b0 = blocks * static_cast<std::size_t>(tid) / static_cast<std::size_t>(nt);
      const std::size_t b1 = blocks * static_cast<std::size_t>(tid + 1) / static_cast<std::size_t>(nt);
      for (std::size_t b = b0; b < b1; ++b)
        for (int j = 0; j < 32; ++j) acc[j] += a[b * 32 + static_cast<std::size_t>(j)];
      for (float x : acc) total += x;
    }
    sink = total;
  });
  (void)sink;
  return static_cast<double>(bytes) / secs / 1e9;
}

// The CPU, as /proc/cpuinfo names it ("unknown CPU" elsewhere): benchmark figures travel with it.
inline std::string cpu_name() {
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return "unknown CPU";
  char line[512];
  std::string name = "unknown CPU";
  while (std::fgets(line, sizeof line, f)) {
    const std::string l(line);
    if (l.rfind("model name", 0) == 0 && l.find(':') != std::string::npos) {
      name = l.substr(l.find(':') + 2);
      if (!name.empty() && name.back() == '\n') name.pop_back();
      break;
    }
  }
  std::fclose(f);
  return name;
}

inline void write_json(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return;
  }
  const std::string s = j.dump(2);
  std::fwrite(s.data(), 1, s.size(), f);
  std::fclose(f);
  std::fprintf(stderr, "wrote %s\n", path.c_str());
}

}  // namespace qwen3::bench
