// `qwen3_mpi serve`: an OpenAI-compatible HTTP server. Rank 0 listens (serve/http_server.hpp) and runs
// the engine loop (serve/serve_loop.hpp) on this thread; every other rank follows rank 0's orders and
// takes the same continuous-batching steps on its share of the model. SIGTERM or Ctrl-C: stop
// accepting, let running requests finish (--drain-timeout), end the rest with 503, exit 0.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/commands.hpp"
#include "engine/agreement.hpp"
#include "engine/batch_engine.hpp"
#include "engine/runtime.hpp"
#include "qwen3/error.hpp"
#include "serve/http_server.hpp"
#include "serve/serve_loop.hpp"

namespace qwen3::cli {
namespace {

// Tokens one sequence may hold: -c, the model's context, or a bounded policy's budget.
std::int64_t sequence_tokens(const ServeCommandOptions& o, const Qwen3Config& cfg, const KvPolicyOptions& policy) {
  const KvEvictionPolicy p(policy);
  if (p.bounded()) return p.budget();
  return o.runtime.context > 0 ? o.runtime.context : cfg.max_position_embeddings;
}

// The KV pool: every running sequence at its whole context, lowered to what fits the host.
KvRequest serve_kv_request(const ServeCommandOptions& o, const MappedModel& m) {
  KvRequest kv;
  kv.type = resolve_kv_type(o.runtime.kv_type, m.weights.checkpoint_dtype);
  kv.block = o.runtime.kv_block;
  const std::int64_t per_sequence = sequence_tokens(o, m.config, kv_policy_options(o.runtime.kv, o.runtime.seed));
  kv.default_tokens = per_sequence * o.max_running;
  kv.logits_rows = o.max_running;
  kv.asked_by = "serve: --max-running " + std::to_string(o.max_running) + " x " + std::to_string(per_sequence) + " tokens";
  kv.held_as = "in a pool for " + std::to_string(o.max_running) + " sequences of up to " + std::to_string(per_sequence) + " tokens";
  kv.instead = {"a smaller --max-running", "a smaller -c", "--kv-type bf16 (half the bytes)"};
  return kv;
}

BatchEngineOptions engine_options(const ServeCommandOptions& o, const Runtime& rt) {
  BatchEngineOptions eo;
  eo.max_running = o.max_running;
  eo.token_budget = o.token_budget;
  eo.kv_type = rt.kv_type();
  eo.kv_block = o.runtime.kv_block;
  eo.kv_policy = rt.kv_policy();
  eo.kv_pool_tokens = rt.planned_kv_tokens();
  eo.batch_invariant = o.batch_invariant;
  eo.prefix_cache = o.prefix_cache;
  // A sequence may hold its context, but never more than the whole pool.
  const std::int64_t context = o.runtime.context > 0 ? o.runtime.context : rt.config().max_position_embeddings;
  eo.context = KvEvictionPolicy(eo.kv_policy).bounded() ? context : std::min(context, eo.kv_pool_tokens);
  return eo;
}

std::string model_name(const ServeCommandOptions& o, const Runtime& rt) {
  if (!o.model_name.empty()) return o.model_name;
  std::filesystem::path dir = std::filesystem::path(rt.options().model_dir).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // "models/qwen3/" names "qwen3"
  return dir.filename().string();
}

}  // namespace

int run_serve(const ServeCommandOptions& o, const std::atomic<bool>& interrupted, Communicator& world) {
  on_every_rank(world, [&] {
    if (o.token_budget < o.max_running)
      throw Error("--token-budget " + std::to_string(o.token_budget) + " is less than --max-running " + std::to_string(o.max_running));
  });
  Runtime rt(o.runtime, world, [&](const MappedModel& m) { return serve_kv_request(o, m); });
  on_rank0(world, [&] {
    if (!rt.tokenizer()) throw Error(rt.options().model_dir + ": serve needs the model's tokenizer.json");
  });
  BatchEngine engine(rt.model(), engine_options(o, rt));

  serve::Metrics metrics;
  std::optional<serve::ServeLoop> loop;
  std::optional<serve::ServedModel> served;
  std::optional<serve::HttpServer> http;
  int port = 0;
  on_rank0(world, [&] {  // a port in use ends every rank with one line
    std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not the end of the server
    loop.emplace(engine, *rt.tokenizer(), world, metrics, serve::ServeLimits{o.max_queue, std::chrono::seconds(o.drain_s)}, o.max_running);
    served.emplace(serve::ServedModel{model_name(o, rt), rt.tokenizer(), rt.config().vocab_size, engine_options(o, rt).context,
                                      rt.loaded().generation, rt.stop_ids(), o.runtime.seed, &engine});
    serve::HttpOptions ho{o.host, o.port, o.api_key, static_cast<std::size_t>(o.max_body_bytes), o.timeout_s, o.max_connections};
    http.emplace(ho, *loop, *served, metrics, interrupted);
    port = http->start();
  });
  rt.print_load_line();
  if (!rt.speaker()) {
    serve::ServeLoop::follow(engine, world);
    return 0;
  }
  std::fprintf(stderr, "serve: listening on http://%s:%d | model %s | %lld sequences at once, %lld tokens each, %lld KV blocks of %lld tokens\n",
               o.host.c_str(), port, served->name.c_str(), static_cast<long long>(o.max_running), static_cast<long long>(served->context),
               static_cast<long long>(engine.kv_pool().total), static_cast<long long>(o.runtime.kv_block));
  loop->run(interrupted);
  http->stop();
  std::fprintf(stderr, "serve: stopped | requests %llu answered, %llu errors, %llu cancelled by their clients | %llu tokens generated\n",
               static_cast<unsigned long long>(metrics.requests_ok.load()), static_cast<unsigned long long>(metrics.requests_error.load()),
               static_cast<unsigned long long>(metrics.requests_cancelled.load()),
               static_cast<unsigned long long>(metrics.generated_tokens.load()));
  return 0;
}

}  // namespace qwen3::cli
