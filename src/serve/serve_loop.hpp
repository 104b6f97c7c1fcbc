#pragma once
// The server's engine thread: HTTP threads hand it submissions; between two steps it takes them, drops
// the sequences whose clients went away or that met a stop string, shares these orders with the other
// ranks (engine/step_orders.hpp), runs one BatchEngine step, and hands every new token to its
// request's Completion as text. The other ranks follow() the same orders and take the same steps.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/batch_engine.hpp"
#include "engine/step_orders.hpp"
#include "engine/stop_strings.hpp"
#include "qwen3/tokenizer.hpp"
#include "serve/completion.hpp"
#include "serve/metrics.hpp"

namespace qwen3::serve {

using Clock = std::chrono::steady_clock;

// One HTTP request's sequences (one per choice) and how their text is cut.
struct Submission {
  std::shared_ptr<Completion> completion;
  std::vector<BatchRequest> sequences;  // ids: completion->sequence_id(choice)
  std::vector<std::string> stop;        // stop strings
  bool logprobs = false;
  Clock::time_point arrived = Clock::now();
};

struct ServeLimits {
  std::int64_t max_queue = 256;                 // sequences waiting beyond the running ones; more: 503
  std::chrono::milliseconds drain{30000};      // after SIGTERM: how long running requests may finish
};

class ServeLoop {
 public:
  ServeLoop(BatchEngine& engine, const Tokenizer& tokenizer, Communicator& world, Metrics& metrics, ServeLimits limits,
            std::int64_t max_running);

  // HTTP threads: queues the submission, or says why not (503: the queue is full, or the server is
  // shutting down).
  std::optional<requests::ApiError> submit(Submission s);

  // Rank 0's main thread: steps until `stop` is set, then lets running requests finish for at most
  // limits.drain, fails the rest with 503, tells the other ranks to stop, and returns.
  void run(const std::atomic<bool>& stop);
  // Every other rank: applies rank 0's orders and takes the same steps until it says stop.
  static void follow(BatchEngine& engine, Communicator& world);

 private:
  // One choice being generated, on the engine thread.
  struct LiveChoice {
    std::shared_ptr<Completion> completion;
    int index = 0;
    Utf8StreamDecoder utf8;
    StopStringFilter stops;
    bool logprobs = false;
    bool ended = false;  // finished here (stop string, shutdown); the engine drops it at the next orders
    Clock::time_point arrived, first_token;
    std::int64_t tokens = 0;
  };

  StepOrders take_orders(const std::atomic<bool>& stop);
  void apply(const StepOrders& orders);
  void on_token(const std::string& id, const GeneratedStep& step);
  void on_finished(const BatchResult& result);
  void end_choice(LiveChoice& c, const std::string& reason);
  void publish_gauges(std::int64_t generated_now);
  static void return_free_memory();

  BatchEngine& engine_;
  const Tokenizer& tokenizer_;
  Communicator& world_;
  Metrics& metrics_;
  ServeLimits limits_;
  std::int64_t max_running_;

  std::mutex inbox_mutex_;
  std::condition_variable inbox_ready_;
  std::vector<Submission> inbox_;
  bool closed_ = false;                      // draining: no new submissions
  std::atomic<std::int64_t> in_system_{0};   // sequences submitted and not yet gone

  std::map<std::string, LiveChoice> live_;   // engine thread only
  std::vector<std::string> to_cancel_;       // ended here; dropped from the engine at the next orders
  std::deque<std::pair<Clock::time_point, std::int64_t>> recent_tokens_;  // for tokens/s
};

}  // namespace qwen3::serve
