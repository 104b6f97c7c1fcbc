#include "serve/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace qwen3::serve {
namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string metric(const std::string& name, const char* type, const std::string& help, double value) {
  return "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + number(value) + "\n";
}

}  // namespace

void Histogram::observe(double seconds) {
  const std::lock_guard lock(mutex_);
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin();
  ++counts_[static_cast<std::size_t>(bucket)];
  sum_ += seconds;
  ++count_;
}

std::string Histogram::text(const std::string& name, const std::string& help) const {
  const std::lock_guard lock(mutex_);
  std::string out = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + number(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
  return out;
}

std::string Metrics::text() const {
  std::string out;
  out += "# HELP qwen3_requests_total Completion requests answered, by outcome.\n# TYPE qwen3_requests_total counter\n";
  out += "qwen3_requests_total{outcome=\"ok\"} " + std::to_string(requests_ok.load()) + "\n";
  out += "qwen3_requests_total{outcome=\"error\"} " + std::to_string(requests_error.load()) + "\n";
  out += "qwen3_requests_total{outcome=\"cancelled\"} " + std::to_string(requests_cancelled.load()) + "\n";
  out += metric("qwen3_prompt_tokens_total", "counter", "Prompt tokens of admitted sequences.", static_cast<double>(prompt_tokens.load()));
  out += metric("qwen3_generated_tokens_total", "counter", "Tokens generated.", static_cast<double>(generated_tokens.load()));
  out += metric("qwen3_sequences_running", "gauge", "Sequences in the engine's steps.", static_cast<double>(running.load()));
  out += metric("qwen3_sequences_waiting", "gauge", "Sequences queued for a place or for KV blocks.", static_cast<double>(waiting.load()));
  out += metric("qwen3_kv_blocks_total", "gauge", "KV pool size in blocks.", static_cast<double>(kv_blocks_total.load()));
  out += metric("qwen3_kv_blocks_used", "gauge", "KV blocks reserved by running sequences.", static_cast<double>(kv_blocks_reserved.load()));
  out += metric("qwen3_kv_blocks_cached", "gauge", "KV blocks of the prefix cache no running sequence uses (given up when needed).",
                static_cast<double>(kv_blocks_cached.load()));
  out += metric("qwen3_kv_blocks_free", "gauge", "KV blocks neither used nor cached.",
                static_cast<double>(kv_blocks_total.load() - kv_blocks_reserved.load() - kv_blocks_cached.load()));
  out += metric("qwen3_kv_blocks_filled", "gauge", "KV blocks of running sequences holding tokens now.", static_cast<double>(kv_blocks_filled.load()));
  out += metric("qwen3_prefix_cache_hit_tokens_total", "counter", "Prompt tokens whose KV came from the prefix cache.",
                static_cast<double>(prefix_cache_hit_tokens.load()));
  out += metric("qwen3_generation_tokens_per_second", "gauge", "Tokens generated per second over the last seconds.", tokens_per_second.load());
  out += ttft.text("qwen3_time_to_first_token_seconds", "From admission to the first generated token.");
  out += tpot.text("qwen3_time_per_output_token_seconds", "Mean time per generated token after the first, per sequence.");
  return out;
}

}  // namespace qwen3::serve
