#include "serve/http_server.hpp"

#include <httplib.h>

#include <atomic>
#include <ctime>
#include <random>
#include <thread>

#include "qwen3/error.hpp"

namespace qwen3::serve {

using nlohmann::json;
using requests::ApiError;
using requests::Endpoint;

bool keys_equal(const std::string& given, const std::string& expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  const std::size_t n = std::max(given.size(), expected.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char a = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    const unsigned char b = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0;
    diff |= static_cast<unsigned char>(a ^ b);
  }
  return diff == 0;
}

namespace {

thread_local bool t_over_capacity = false;  // this connection is answered 503 on the accepting thread

// httplib's thread pool with a bound: `threads` connections are served at once and as many more wait;
// beyond that a connection is answered 503 at once on the accepting thread (its read is bounded by the
// read timeout), so a flood of connections neither grows memory nor starves the ones being served.
class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  explicit BoundedTaskQueue(std::size_t threads) : pool_(threads), limit_(2 * threads) {}
  void enqueue(std::function<void()> fn) override {
    if (in_system_.load() >= limit_) {
      t_over_capacity = true;
      fn();
      t_over_capacity = false;
      return;
    }
    ++in_system_;
    pool_.enqueue([this, fn = std::move(fn)] {
      fn();
      --in_system_;
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  std::size_t limit_;
  std::atomic<std::size_t> in_system_{0};
};

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.status == 503) res.set_header("Retry-After", "1");
  res.set_content(requests::error_body(e), "application/json");
}

std::string sse(const json& j) { return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; }

// One streamed response: what has been sent so far.
struct StreamState {
  std::shared_ptr<Completion> completion;
  std::unique_ptr<requests::CompletionRequest> request;
  std::unique_ptr<ResponseWriter> writer;
  std::vector<bool> started;  // per choice: its first chunk has gone
  bool complete = false;
  bool failed = false;
  Clock::time_point last_write = Clock::now();
};

}  // namespace

struct HttpServer::Impl {
  HttpOptions options;
  ServeLoop& loop;
  const ServedModel& model;
  Metrics& metrics;
  const std::atomic<bool>& draining;  // SIGTERM: /health says so
  httplib::Server server;
  std::thread listener;
  std::atomic<std::uint64_t> next_id{std::random_device{}()};
  std::atomic<int> open_streams{0};  // streamed responses not yet written to their end

  Impl(const HttpOptions& o, ServeLoop& l, const ServedModel& m, Metrics& mt, const std::atomic<bool>& d)
      : options(o), loop(l), model(m), metrics(mt), draining(d) {}

  void routes();
  void complete(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  void answer_whole(httplib::Response& res, const requests::CompletionRequest& r, const std::shared_ptr<Completion>& c,
                    const ResponseWriter& writer);
  void answer_stream(httplib::Response& res, std::unique_ptr<requests::CompletionRequest> r, std::shared_ptr<Completion> c,
                     std::unique_ptr<ResponseWriter> writer);
};

void HttpServer::Impl::routes() {
  server.new_task_queue = [this] { return new BoundedTaskQueue(static_cast<std::size_t>(options.max_connections)); };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_read_timeout(options.timeout_s, 0);
  server.set_write_timeout(options.timeout_s, 0);
  server.set_keep_alive_timeout(5);
  server.set_keep_alive_max_count(1000);
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (t_over_capacity) {
      res.set_header("Connection", "close");
      send_error(res, {503, "too many connections; retry later", "server_error"});
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!options.api_key.empty() && req.path.rfind("/v1/", 0) == 0) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const bool ok = auth.rfind(prefix, 0) == 0 && keys_equal(auth.substr(prefix.size()), options.api_key);
      if (!ok) {
        send_error(res, {401, "Incorrect API key provided", "invalid_request_error", "", "invalid_api_key"});
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib answers itself (no route, a body over the limit) get OpenAI's shape too.
  server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP " + std::to_string(res.status);
    if (res.status == 404) message = "no route for " + req.method + " " + req.path;
    if (res.status == 413) message = "the request body is larger than " + std::to_string(options.max_body_bytes) + " bytes";
    if (res.status == 400) message = "malformed HTTP request";
    send_error(res, {res.status, message, res.status >= 500 ? "server_error" : "invalid_request_error"});
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = one_line(e.what());
    } catch (...) {
    }
    send_error(res, {500, what, "server_error"});
  });
  server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.status = draining.load() ? 503 : 200;
    res.set_content(draining.load() ? R"({"status":"shutting down"})" : R"({"status":"ok"})", "application/json");
  });
  server.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const json body = {{"object", "list"},
                       {"data", json::array({{{"id", model.name}, {"object", "model"}, {"created", 0}, {"owned_by", "qwen3_mpi"},
                                              {"max_model_len", model.context}}})}};
    res.set_content(body.dump(), "application/json");
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.text(), "text/plain; version=0.0.4");
  });
  server.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { complete(req, res, Endpoint::Completions); });
  server.Post("/v1/chat/completions",
              [this](const httplib::Request& req, httplib::Response& res) { complete(req, res, Endpoint::ChatCompletions); });
}

void HttpServer::Impl::complete(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  auto parsed = requests::parse_completion_request(req.body, endpoint);
  if (auto* e = std::get_if<ApiError>(&parsed)) {
    ++metrics.requests_error;
    return send_error(res, *e);
  }
  auto request = std::make_unique<requests::CompletionRequest>(std::get<requests::CompletionRequest>(std::move(parsed)));
  char id[40];
  std::snprintf(id, sizeof id, "%s-%016llx", endpoint == Endpoint::ChatCompletions ? "chatcmpl" : "cmpl",
                static_cast<unsigned long long>(next_id++));
  auto made = make_submission(*request, model, id);
  if (auto* e = std::get_if<ApiError>(&made)) {
    ++metrics.requests_error;
    return send_error(res, *e);
  }
  Submission submission = std::get<Submission>(std::move(made));
  std::shared_ptr<Completion> completion = submission.completion;
  if (auto refused = loop.submit(std::move(submission))) {
    ++metrics.requests_error;
    return send_error(res, *refused);
  }
  auto writer = std::make_unique<ResponseWriter>(*request, model, id, static_cast<std::int64_t>(std::time(nullptr)));
  if (request->stream) return answer_stream(res, std::move(request), std::move(completion), std::move(writer));
  answer_whole(res, *request, completion, *writer);
}

void HttpServer::Impl::answer_whole(httplib::Response& res, const requests::CompletionRequest& r, const std::shared_ptr<Completion>& c,
                                    const ResponseWriter& writer) {
  std::vector<ChoiceResult> choices(static_cast<std::size_t>(r.n));
  for (;;) {
    Completion::News news = c->wait(std::chrono::milliseconds(1000));
    for (ChoiceDelta& d : news.deltas) {
      ChoiceResult& out = choices[static_cast<std::size_t>(d.index)];
      out.text += d.text;
      out.tokens.insert(out.tokens.end(), d.tokens.begin(), d.tokens.end());
      if (!d.finish_reason.empty()) out.finish_reason = d.finish_reason;
    }
    if (news.error) {
      ++metrics.requests_error;
      return send_error(res, *news.error);
    }
    if (news.done) break;
  }
  ++metrics.requests_ok;
  res.set_content(writer.whole(choices, c->usage()).dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void HttpServer::Impl::answer_stream(httplib::Response& res, std::unique_ptr<requests::CompletionRequest> r, std::shared_ptr<Completion> c,
                                     std::unique_ptr<ResponseWriter> writer) {
  auto state = std::make_shared<StreamState>();
  state->started.assign(static_cast<std::size_t>(r->n), false);
  state->completion = std::move(c);
  state->request = std::move(r);
  state->writer = std::move(writer);
  res.set_header("Cache-Control", "no-cache");
  ++open_streams;
  res.set_chunked_content_provider(
      "text/event-stream",
      [state](std::size_t, httplib::DataSink& sink) {
        if (state->complete) return sink.done(), true;
        Completion::News news = state->completion->wait(std::chrono::milliseconds(1000));
        std::string out;
        for (const ChoiceDelta& d : news.deltas) {
          const auto i = static_cast<std::size_t>(d.index);
          out += sse(state->writer->chunk(d, !state->started[i]));
          state->started[i] = true;
        }
        if (news.error) {
          out += sse(json::parse(requests::error_body(*news.error)));
          state->failed = true;
        }
        if (news.done) {
          if (!news.error && state->request->include_usage)
            out += sse(state->writer->usage_chunk(state->completion->usage()));
          out += "data: [DONE]\n\n";
        }
        // A comment line every few quiet seconds: a client that went away is noticed (and its
        // sequence dropped) even while its request waits in the queue.
        if (out.empty() && Clock::now() - state->last_write > std::chrono::seconds(2)) out = ": keep-alive\n\n";
        if (!out.empty()) {
          if (!sink.write(out.data(), out.size())) return false;
          state->last_write = Clock::now();
        }
        if (news.done) {
          state->complete = true;
          sink.done();
        }
        return true;
      },
      [this, state](bool) {
        --open_streams;
        if (state->complete) {
          ++(state->failed ? metrics.requests_error : metrics.requests_ok);
          return;
        }
        state->completion->abandon();  // the client went away: its sequences leave at the next step
        ++metrics.requests_cancelled;
      });
}

HttpServer::HttpServer(const HttpOptions& options, ServeLoop& loop, const ServedModel& model, Metrics& metrics,
                       const std::atomic<bool>& draining)
    : impl_(std::make_unique<Impl>(options, loop, model, metrics, draining)) {
  impl_->routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::start() {
  Impl& s = *impl_;
  const int port = s.options.port == 0 ? s.server.bind_to_any_port(s.options.host) : (s.server.bind_to_port(s.options.host, s.options.port) ? s.options.port : -1);
  if (port < 0) throw Error("serve: cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) + " (in use, or not an address of this host)");
  s.listener = std::thread([&s] { s.server.listen_after_bind(); });
  return port;
}

void HttpServer::stop() {
  if (!impl_->listener.joinable()) return;
  // httplib ends a chunked response mid-way once the server stops, so let the streams whose requests
  // are complete (the engine loop has finished or failed every one by now) write their last chunks.
  for (int i = 0; i < 1000 && impl_->open_streams.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  impl_->server.stop();
  impl_->listener.join();
}

}  // namespace qwen3::serve
