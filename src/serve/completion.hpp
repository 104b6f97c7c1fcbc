#pragma once
// One HTTP request in flight: the engine thread appends what its choices generate, the HTTP thread
// that answers the client takes it (as one response, or as server-sent events while it grows). The
// only state the two threads share.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.hpp"
#include "requests/openai_request.hpp"

namespace qwen3::serve {

// One generated token, for logprobs.
struct TokenRecord {
  std::int32_t id = 0;
  TokenLogprobs logprobs;
};

// What one choice produced since the HTTP thread last looked.
struct ChoiceDelta {
  int index = 0;
  std::string text;
  std::vector<TokenRecord> tokens;  // every token generated (logprobs filled when asked)
  std::string finish_reason;        // non-empty: this choice is complete ("stop", "length")
};

// A request's token counts, as OpenAI's `usage` reports them.
struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;  // prompt tokens whose KV came from the prefix cache (the most of its choices)
};

class Completion {
 public:
  Completion(std::string id, int choices, std::int64_t prompt_tokens);

  const std::string& id() const { return id_; }
  int choices() const { return choices_; }
  std::int64_t prompt_tokens() const { return prompt_tokens_; }
  // Sequence ids in the engine: "<id>/<choice>".
  std::string sequence_id(int choice) const { return id_ + "/" + std::to_string(choice); }

  // Engine thread.
  void add(ChoiceDelta delta);
  void note_cached_tokens(std::int64_t n);  // before the choice's first add()
  void fail(requests::ApiError error);

  // HTTP thread: waits up to `timeout` for news, then takes everything new. Empty and not done: the
  // wait timed out.
  struct News {
    std::vector<ChoiceDelta> deltas;
    std::optional<requests::ApiError> error;
    bool done = false;  // every choice finished, or the request failed
  };
  News wait(std::chrono::milliseconds timeout);
  Usage usage() const { return {prompt_tokens_, completion_tokens_.load(), cached_tokens_.load()}; }

  // The client went away: the engine drops the sequences at its next step.
  void abandon() { abandoned_ = true; }
  bool abandoned() const { return abandoned_.load(); }

 private:
  std::string id_;
  int choices_;
  std::int64_t prompt_tokens_;
  mutable std::mutex mutex_;
  std::condition_variable news_;
  std::vector<ChoiceDelta> pending_;
  std::optional<requests::ApiError> error_;
  int finished_choices_ = 0;
  std::atomic<std::int64_t> completion_tokens_{0};
  std::atomic<std::int64_t> cached_tokens_{0};
  std::atomic<bool> abandoned_{false};
};

}  // namespace qwen3::serve
