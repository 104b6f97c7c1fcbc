#pragma once
// The generation loop shared by every front end: prefill the prompt, then sample, report and feed
// one token at a time until a stop condition. Front ends (CLI text, --json, --verify, chat) differ
// only in the request and in what on_token does.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "engine/sampler.hpp"
#include "engine/session.hpp"

namespace qwen3 {

enum class StopReason { Length, EndOfText, ContextFull, Interrupted };
std::string_view stop_reason_name(StopReason r);

struct GenerationRequest {
  std::vector<std::int32_t> prompt;
  std::int64_t max_new_tokens = 128;       // -1: until end-of-text or the context is full
  std::vector<std::int32_t> stop_ids;      // empty: never stop early (--verify)
  int top_logprobs = 0;                    // > 0: record logprob and the top-k alternatives per step
};

struct Timing {
  std::int64_t prompt_tokens = 0;
  std::int64_t generated_tokens = 0;
  double ttft_ms = 0;       // prompt submitted -> first generated token chosen
  double tpot_ms = 0;       // mean time per generated token after the first
  double tokens_per_s = 0;  // 1000 / tpot_ms (decode rate); 0 when fewer than 2 tokens
};

struct GeneratedStep {
  std::int32_t id = 0;
  TokenLogprobs logprobs;
};

struct GenerationResult {
  std::vector<std::int32_t> ids;
  std::vector<GeneratedStep> steps;
  StopReason stop = StopReason::Length;
  Timing timing;
};

// on_token runs for every generated token (stop tokens excluded) as soon as it is chosen.
// `interrupt` (Ctrl-C) is polled between tokens; the result is still complete up to that point.
GenerationResult generate(Session& session, Sampler& sampler, const GenerationRequest& req,
                          const std::function<void(std::int32_t)>& on_token, const std::atomic<bool>* interrupt = nullptr);

}  // namespace qwen3
