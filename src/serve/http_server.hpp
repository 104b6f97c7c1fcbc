#pragma once
// `qwen3_mpi serve`'s HTTP side (cpp-httplib, in this file's .cpp only): OpenAI's routes, bearer-key
// checks, body and connection limits, server-sent events. It only talks to the ServeLoop (submit) and
// to each request's Completion; it never touches the engine.
#include <atomic>
#include <memory>
#include <string>

#include "serve/metrics.hpp"
#include "serve/openai_api.hpp"
#include "serve/serve_loop.hpp"

namespace qwen3::serve {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (printed)
  std::string api_key;                   // empty: no key asked for
  std::size_t max_body_bytes = 1 << 20;  // larger: 413
  int timeout_s = 30;                    // reading a request, writing a response: a slow client is dropped
  int max_connections = 128;             // served at once; as many more wait, and beyond that get 503
};

class HttpServer {
 public:
  // `draining`: set once SIGTERM arrived (GET /health answers 503 from then on).
  HttpServer(const HttpOptions& options, ServeLoop& loop, const ServedModel& model, Metrics& metrics, const std::atomic<bool>& draining);
  ~HttpServer();
  // Binds the address (qwen3::Error with one line if it cannot) and serves on a thread of its own;
  // returns the port.
  int start();
  // Stops accepting, waits for the connections being served to finish, and joins.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether `given` equals `expected`, in time that depends on their lengths only.
bool keys_equal(const std::string& given, const std::string& expected);

}  // namespace qwen3::serve
