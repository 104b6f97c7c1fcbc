#include "serve/serve_loop.hpp"

#include <algorithm>

#if defined(__GLIBC__)
#include <malloc.h>  // malloc_trim
#endif

#include "qwen3/error.hpp"

namespace qwen3::serve {

ServeLoop::ServeLoop(BatchEngine& engine, const Tokenizer& tokenizer, Communicator& world, Metrics& metrics, ServeLimits limits,
                     std::int64_t max_running)
    : engine_(engine), tokenizer_(tokenizer), world_(world), metrics_(metrics), limits_(limits), max_running_(max_running) {
  publish_gauges(0);
}

std::optional<requests::ApiError> ServeLoop::submit(Submission s) {
  const auto n = static_cast<std::int64_t>(s.sequences.size());
  {
    const std::lock_guard lock(inbox_mutex_);
    if (closed_) return requests::ApiError{503, "the server is shutting down", "server_error"};
    if (in_system_.load() + n > max_running_ + limits_.max_queue)
      return requests::ApiError{503, "the server's queue is full (" + std::to_string(limits_.max_queue) + " waiting); retry later", "server_error",
                                "", "queue_full"};
    in_system_ += n;
    inbox_.push_back(std::move(s));
  }
  inbox_ready_.notify_one();
  return std::nullopt;
}

StepOrders ServeLoop::take_orders(const std::atomic<bool>& stop) {
  StepOrders orders;
  std::vector<Submission> arrived;
  {
    std::unique_lock lock(inbox_mutex_);
    // Nothing to step: sleep until a request (or the stop) arrives; the other ranks wait in the broadcast.
    while (inbox_.empty() && engine_.idle() && to_cancel_.empty() && !stop.load())
      inbox_ready_.wait_for(lock, std::chrono::milliseconds(100));
    arrived.swap(inbox_);
    if (stop.load()) closed_ = true;
  }
  for (Submission& s : arrived) {
    for (std::size_t i = 0; i < s.sequences.size(); ++i) {
      LiveChoice c{s.completion, static_cast<int>(i), Utf8StreamDecoder(tokenizer_), StopStringFilter(s.stop), s.logprobs, false, s.arrived, {}, 0};
      live_.emplace(s.sequences[i].id, std::move(c));
      metrics_.prompt_tokens += s.sequences[i].prompt.size();
      orders.submit.push_back(std::move(s.sequences[i]));
    }
  }
  for (auto& [id, c] : live_)  // a client gone mid-way frees its blocks at once
    if (!c.ended && c.completion->abandoned()) {
      c.ended = true;
      to_cancel_.push_back(id);
    }
  orders.cancel = std::move(to_cancel_);
  to_cancel_.clear();
  return orders;
}

void ServeLoop::apply(const StepOrders& orders) {
  for (const std::string& id : orders.cancel) {
    engine_.cancel(id);
    const auto it = live_.find(id);
    if (it == live_.end()) continue;
    live_.erase(it);
    --in_system_;
  }
  for (const BatchRequest& r : orders.submit) {
    try {
      engine_.submit(r);
    } catch (const Error& e) {  // checked by the HTTP thread already; kept so no request is ever lost
      auto it = live_.find(r.id);
      it->second.completion->fail({400, one_line(e.what())});
      it->second.ended = true;
      to_cancel_.push_back(r.id);
    }
  }
}

void ServeLoop::end_choice(LiveChoice& c, const std::string& reason) {
  ChoiceDelta d;
  d.index = c.index;
  d.text = c.stops.push(c.utf8.flush());
  d.text += c.stops.finish();
  d.finish_reason = reason;
  c.ended = true;
  const auto now = Clock::now();
  if (c.tokens >= 2) metrics_.tpot.observe(std::chrono::duration<double>(now - c.first_token).count() / static_cast<double>(c.tokens - 1));
  c.completion->add(std::move(d));
}

void ServeLoop::on_token(const std::string& id, const GeneratedStep& step) {
  const auto it = live_.find(id);
  if (it == live_.end() || it->second.ended) return;  // ended here; the engine drops it at the next orders
  LiveChoice& c = it->second;
  if (c.tokens++ == 0) {
    c.first_token = Clock::now();
    c.completion->note_cached_tokens(engine_.cached_tokens(id));
    metrics_.ttft.observe(std::chrono::duration<double>(c.first_token - c.arrived).count());
  }
  ChoiceDelta d;
  d.index = c.index;
  d.tokens.push_back({step.id, c.logprobs ? step.logprobs : TokenLogprobs{}});
  d.text = c.stops.push(step.id < tokenizer_.size() ? c.utf8.push(step.id) : std::string());  // padding ids have no text
  if (c.stops.stopped()) {
    d.finish_reason = "stop";
    c.ended = true;
    to_cancel_.push_back(id);
  }
  c.completion->add(std::move(d));
}

void ServeLoop::on_finished(const BatchResult& r) {
  const auto it = live_.find(r.id);
  if (it == live_.end()) return;
  it->second.completion->note_cached_tokens(r.cached_tokens);  // also when no token came (a stop id first)
  if (!it->second.ended) end_choice(it->second, r.stop == StopReason::EndOfText ? "stop" : "length");
  live_.erase(it);
  --in_system_;
}

void ServeLoop::publish_gauges(std::int64_t generated_now) {
  const auto now = Clock::now();
  recent_tokens_.emplace_back(now, generated_now);
  while (recent_tokens_.size() > 1 && now - recent_tokens_.front().first > std::chrono::seconds(10)) recent_tokens_.pop_front();
  std::int64_t sum = 0;
  for (const auto& [t, n] : recent_tokens_) sum += n;
  const double span = std::chrono::duration<double>(now - recent_tokens_.front().first).count();
  metrics_.tokens_per_second = span > 0 ? static_cast<double>(sum - recent_tokens_.front().second) / span : 0.0;
  metrics_.running = static_cast<std::int64_t>(engine_.running());
  metrics_.waiting = static_cast<std::int64_t>(engine_.waiting());
  const KvPoolUse pool = engine_.kv_pool();
  metrics_.kv_blocks_total = pool.total;
  metrics_.kv_blocks_reserved = pool.reserved;
  metrics_.kv_blocks_filled = pool.filled;
  metrics_.kv_blocks_cached = pool.cached;
  metrics_.prefix_cache_hit_tokens = engine_.prefix_hit_tokens();
}

// The server just went idle: what the finished sequences freed (logits rows, step buffers of other
// threads' arenas) goes back to the OS, so a server's RSS after a burst returns to where it was.
void ServeLoop::return_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void ServeLoop::run(const std::atomic<bool>& stop) {
  std::optional<Clock::time_point> deadline;
  for (;;) {
    StepOrders orders = take_orders(stop);
    if (stop.load() && !deadline) deadline = Clock::now() + limits_.drain;
    if (deadline && (live_.empty() || Clock::now() >= *deadline)) {
      // Draining is over: whatever still runs is answered with an error, and every rank stops.
      for (auto& [id, c] : live_) {
        c.completion->fail({503, "the server shut down before this request finished", "server_error"});
        orders.cancel.push_back(id);
      }
      orders.stop = true;
    }
    share_orders(world_, orders, engine_.idle());
    apply(orders);
    if (orders.stop) break;
    if (engine_.idle()) {
      publish_gauges(0);
      continue;
    }
    std::int64_t generated = 0;
    const auto finished = engine_.step([&](const std::string& id, const GeneratedStep& s) {
      ++generated;
      on_token(id, s);
    });
    for (const BatchResult& r : finished) on_finished(r);
    metrics_.generated_tokens += static_cast<std::uint64_t>(generated);
    publish_gauges(generated);
    if (engine_.idle()) return_free_memory();
  }
  publish_gauges(0);
}

void ServeLoop::follow(BatchEngine& engine, Communicator& world) {
  for (;;) {
    StepOrders orders;
    share_orders(world, orders, engine.idle());
    for (const std::string& id : orders.cancel) engine.cancel(id);
    for (BatchRequest& r : orders.submit) {
      try {
        engine.submit(std::move(r));
      } catch (const Error&) {  // rank 0 met the same refusal and cancels it in its next orders
      }
    }
    if (orders.stop) return;
    if (!engine.idle()) engine.step();
  }
}

}  // namespace qwen3::serve
