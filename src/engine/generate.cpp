#include "engine/generate.hpp"

#include <algorithm>
#include <chrono>

namespace qwen3 {

std::string_view stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::Length: return "length";
    case StopReason::EndOfText: return "end-of-text";
    case StopReason::ContextFull: return "context-full";
    case StopReason::Interrupted: return "interrupted";
  }
  return "?";
}

GenerationResult generate(Session& session, Sampler& sampler, const GenerationRequest& req,
                          const std::function<void(std::int32_t)>& on_token, const std::atomic<bool>* interrupt) {
  using clock = std::chrono::steady_clock;
  const auto ms_since = [](clock::time_point t) { return std::chrono::duration<double, std::milli>(clock::now() - t).count(); };
  GenerationResult res;
  res.timing.prompt_tokens = static_cast<std::int64_t>(req.prompt.size());
  std::vector<std::int32_t> history = req.prompt;

  const auto t_start = clock::now();
  // With the vocabulary split over ranks, every rank runs this loop on its slice of the logits; the
  // sampler agrees on each id, so the ranks stop together.
  Communicator& comm = *session.model().distribution().all;
  const std::int64_t vocab_offset = session.model().vocab_range().begin;
  std::span<const float> logits = session.feed(req.prompt);
  clock::time_point t_first{};
  while (req.max_new_tokens < 0 || static_cast<std::int64_t>(res.ids.size()) < req.max_new_tokens) {
    std::int32_t stop_now[1] = {interrupt && interrupt->load() ? 1 : 0};
    comm.broadcast(stop_now, 0);  // Ctrl-C reaches rank 0; the others follow its decision
    if (stop_now[0]) {
      res.stop = StopReason::Interrupted;
      break;
    }
    const std::int32_t id = sampler.sample(LogitsSlice{logits, vocab_offset}, history, comm);
    if (res.ids.empty()) {
      res.timing.ttft_ms = ms_since(t_start);
      t_first = clock::now();
    }
    if (std::find(req.stop_ids.begin(), req.stop_ids.end(), id) != req.stop_ids.end()) {
      res.stop = StopReason::EndOfText;
      break;
    }
    res.ids.push_back(id);
    history.push_back(id);
    if (req.top_logprobs > 0) res.steps.push_back({id, token_logprobs(LogitsSlice{logits, vocab_offset}, id, req.top_logprobs, comm)});
    on_token(id);
    const bool want_more = req.max_new_tokens < 0 || static_cast<std::int64_t>(res.ids.size()) < req.max_new_tokens;
    if (!want_more) break;
    if (!session.fits(1)) {
      res.stop = StopReason::ContextFull;
      break;
    }
    const std::int32_t next[1] = {id};
    logits = session.feed(next);
  }
  res.timing.generated_tokens = static_cast<std::int64_t>(res.ids.size());
  if (res.ids.size() >= 2) {
    res.timing.tpot_ms = ms_since(t_first) / static_cast<double>(res.ids.size() - 1);
    res.timing.tokens_per_s = 1000.0 / res.timing.tpot_ms;
  }
  return res;
}

}  // namespace qwen3
