#pragma once
// Perplexity and next-token accuracy of a model over a token stream.
//   Streaming protocol (default; the StreamingLLM paper's evaluation): tokens are fed one by one
//   through the KV cache, each step's logits score the next token; the first token is context only,
//   so N tokens give N-1 scored predictions.
//   Chunked protocol (--chunk N, as llama-perplexity): the stream is cut into chunks of N tokens, each
//   evaluated from an empty cache, and only the second half of each chunk is scored.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/session.hpp"
#include "kv/kv_cache.hpp"
#include "kv/kv_policy.hpp"
#include "model/qwen3.hpp"

namespace qwen3 {

struct EvalOptions {
  std::int64_t window = 256;  // tokens per reported window of the ppl/accuracy curve
  std::int64_t chunk = 0;     // 0: streaming protocol; > 0: chunked protocol with this chunk length
  KvType kv_type = KvType::F32;
  std::int64_t kv_block = 64;
  KvPolicyOptions kv_policy;  // sink-window etc.: the cache holds the policy's budget as the text streams
};

struct EvalWindow {
  std::int64_t start = 0, end = 0;  // positions of the scored tokens [start, end)
  double ppl = 0, accuracy = 0;
  // Streaming protocol only (0 otherwise): mean wall time per token over the window, and the KV cache's
  // bytes and the process's resident bytes when it ended -- latency and memory over the stream.
  double ms_per_token = 0;
  std::size_t kv_bytes = 0, rss_bytes = 0;
};

struct EvalResult {
  std::int64_t tokens = 0;   // tokens read from the text
  std::int64_t scored = 0;   // predictions scored
  double nll_sum = 0;
  std::int64_t correct = 0;
  double ppl = 0, accuracy = 0;
  std::vector<EvalWindow> windows;
  std::vector<std::int32_t> predictions;  // the arg-max id at every scored position, in order
  double ttft_ms = 0;        // first token in -> its logits out
  double tpot_ms = 0;        // mean time per token after the first
  double tokens_per_s = 0;
  double attn_ms_per_token = 0;
  std::size_t peak_kv_bytes = 0;
};

// progress(done, total) is called now and then (for a progress bar).
EvalResult evaluate(Qwen3Model& model, std::span<const std::int32_t> tokens, const EvalOptions& opt,
                    const std::function<void(std::int64_t, std::int64_t)>& progress = {});

}  // namespace qwen3
