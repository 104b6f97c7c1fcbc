#pragma once
// The server's counters for GET /metrics, in Prometheus' text format. HTTP threads count requests; the
// engine thread sets the gauges after each step and observes TTFT and TPOT as sequences finish.
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace qwen3::serve {

// A Prometheus histogram (cumulative buckets, sum, count), in seconds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double seconds);
  std::string text(const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

struct Metrics {
  // Requests answered, by outcome: a complete answer, an error response, a client gone mid-way.
  std::atomic<std::uint64_t> requests_ok{0}, requests_error{0}, requests_cancelled{0};
  std::atomic<std::uint64_t> prompt_tokens{0}, generated_tokens{0};
  // Set by the engine thread after each step.
  std::atomic<std::int64_t> running{0}, waiting{0};
  std::atomic<std::int64_t> kv_blocks_total{0}, kv_blocks_reserved{0}, kv_blocks_filled{0}, kv_blocks_cached{0};
  std::atomic<std::int64_t> prefix_cache_hit_tokens{0};
  std::atomic<double> tokens_per_second{0};  // generated, over the last few seconds
  Histogram ttft{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  Histogram tpot{{0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2}};

  std::string text() const;
};

}  // namespace qwen3::serve
