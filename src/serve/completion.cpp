#include "serve/completion.hpp"

namespace qwen3::serve {

Completion::Completion(std::string id, int choices, std::int64_t prompt_tokens)
    : id_(std::move(id)), choices_(choices), prompt_tokens_(prompt_tokens) {}

void Completion::note_cached_tokens(std::int64_t n) {
  std::int64_t seen = cached_tokens_.load();
  while (n > seen && !cached_tokens_.compare_exchange_weak(seen, n)) {
  }
}

void Completion::add(ChoiceDelta delta) {
  {
    const std::lock_guard lock(mutex_);
    if (error_) return;
    completion_tokens_ += static_cast<std::int64_t>(delta.tokens.size());
    if (!delta.finish_reason.empty()) ++finished_choices_;
    pending_.push_back(std::move(delta));
  }
  news_.notify_all();
}

void Completion::fail(requests::ApiError error) {
  {
    const std::lock_guard lock(mutex_);
    if (!error_ && finished_choices_ < choices_) error_ = std::move(error);
  }
  news_.notify_all();
}

Completion::News Completion::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const auto ready = [&] { return !pending_.empty() || error_ || finished_choices_ == choices_; };
  news_.wait_for(lock, timeout, ready);
  News n;
  n.deltas = std::move(pending_);
  pending_.clear();
  n.error = error_;
  n.done = error_.has_value() || finished_choices_ == choices_;
  return n;
}

}  // namespace qwen3::serve
