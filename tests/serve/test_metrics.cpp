// GET /metrics (serve/metrics.hpp): Prometheus' text format as scrapers read it -- cumulative buckets
// ending at +Inf equal to the count, and every gauge and counter with its HELP and TYPE.
#include <gtest/gtest.h>

#include "serve/metrics.hpp"

namespace qwen3::serve {
namespace {

TEST(Histogram, BucketsAreCumulativeAndEndWithTheCount) {
  Histogram h({0.1, 1.0});
  for (double s : {0.05, 0.1, 0.5, 2.0}) h.observe(s);
  const std::string text = h.text("t_seconds", "help");
  EXPECT_NE(text.find("t_seconds_bucket{le=\"0.10000000000000001\"} 2\n"), std::string::npos) << text;  // 0.1 falls in le=0.1
  EXPECT_NE(text.find("t_seconds_bucket{le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_sum 2.6499999999999999\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_count 4\n"), std::string::npos) << text;
}

TEST(Metrics, EveryFamilyHasHelpAndTypeAndFreeBlocksAreTotalLessUsedAndCached) {
  Metrics m;
  m.kv_blocks_total = 10;
  m.kv_blocks_reserved = 3;
  m.kv_blocks_cached = 2;
  ++m.requests_ok;
  const std::string text = m.text();
  EXPECT_NE(text.find("qwen3_kv_blocks_free 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("qwen3_requests_total{outcome=\"ok\"} 1\n"), std::string::npos) << text;
  for (const char* family : {"qwen3_requests_total", "qwen3_sequences_running", "qwen3_sequences_waiting", "qwen3_kv_blocks_used", "qwen3_kv_blocks_cached", "qwen3_prefix_cache_hit_tokens_total",
                             "qwen3_generation_tokens_per_second", "qwen3_time_to_first_token_seconds", "qwen3_time_per_output_token_seconds"}) {
    EXPECT_NE(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
}

}  // namespace
}  // namespace qwen3::serve
