// `qwen3_mpi batch --input prompts.jsonl --output results.jsonl`: every request of a prompt file through
// one continuous-batching engine (engine/batch_engine.hpp), each result written and flushed the moment
// its request finishes, so a job killed at any point loses nothing: the same command run again skips
// the ids already answered, cuts a line the kill left half-written and finishes the rest.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/batch_input.hpp"
#include "cli/commands.hpp"
#include "engine/agreement.hpp"
#include "engine/batch_engine.hpp"
#include "engine/runtime.hpp"
#include "engine/step_orders.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cli {
namespace {

using nlohmann::json;

// Tokens one sequence may hold: -c, or the model's context.
std::int64_t sequence_context(const BatchCommandOptions& o, const Qwen3Config& cfg) {
  return o.runtime.context > 0 ? o.runtime.context : cfg.max_position_embeddings;
}

// The KV cache the engine may fill: every running sequence at its whole context (or its budget).
KvRequest batch_kv_request(const BatchCommandOptions& o, const MappedModel& m) {
  KvRequest kv;
  kv.type = resolve_kv_type(o.runtime.kv_type, m.weights.checkpoint_dtype);
  kv.block = o.runtime.kv_block;
  const KvEvictionPolicy policy(kv_policy_options(o.runtime.kv, o.runtime.seed));
  const std::int64_t per_sequence = policy.bounded() ? policy.budget() : sequence_context(o, m.config);
  kv.tokens = per_sequence * o.max_running;
  kv.logits_rows = o.max_running;
  kv.asked_by = "batch: --max-running " + std::to_string(o.max_running) + " x " + std::to_string(per_sequence) + " tokens";
  kv.held_as = "for " + std::to_string(o.max_running) + " sequences x " + std::to_string(per_sequence) + " tokens";
  kv.instead = {"a smaller --max-running", "a smaller -c", "--kv-type bf16 (half the bytes)"};
  return kv;
}

// Rank 0's view of the files: the requests still to run, and the output opened to append to.
struct BatchFiles {
  std::vector<BatchRequest> requests;
  std::map<std::string, std::int64_t> prompt_tokens;
  std::FILE* out = nullptr;
  std::size_t skipped = 0, errors = 0, total = 0;
  ~BatchFiles() {
    if (out) std::fclose(out);
  }
};

void write_line(std::FILE* out, const json& j) {
  const std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);  // written when the request finishes: a kill after this loses nothing
}

// The output so far: what is done, with a line a kill cut short removed; then opened to append.
std::FILE* open_output(const std::string& path, ResumeState& resume) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    resume = scan_results(read_input_file(path, "output file"));
    fs::resize_file(path, resume.complete_bytes, ec);
    if (ec) throw Error(path + ": cannot cut the unfinished last line: " + ec.message());
  }
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) throw Error(path + ": cannot write the output file");
  return f;
}

// The options of a line's own policy, checked (qwen3::Error names what is wrong).
KvPolicyOptions line_kv_policy(const KvPolicyFields& f, std::uint64_t seed) {
  KvPolicyFlags flags;
  flags.kind = f.name;
  flags.sink = f.sink;
  flags.heavy = f.heavy;
  if (f.window) flags.window = *f.window;
  if (f.evict_chunk) flags.evict_chunk = *f.evict_chunk;
  try {
    const KvPolicyOptions options = kv_policy_options(flags, seed);
    KvEvictionPolicy{options};
    return options;
  } catch (const Error& e) {
    throw Error(std::string("kv_policy: ") + e.what());
  }
}

// One input line as a request, or its error result written at once.
void take_line(const BatchCommandOptions& o, const Runtime& rt, const BatchEngine& engine, const ParsedBatchLine& p, std::int64_t number,
               BatchFiles& f, const ResumeState& resume, std::map<std::string, std::int64_t>& seen) {
  ++f.total;
  if (resume.done.count(p.id)) return void(++f.skipped);
  std::string error = p.error;
  std::string id = p.id;
  BatchRequest r;
  if (error.empty() && seen.count(p.id)) {  // answered under its line number: ids in the output stay unique
    error = "id '" + p.id + "' repeats line " + std::to_string(seen[p.id]);
    id = "line-" + std::to_string(number);
  }
  if (error.empty()) {
    try {
      const BatchLine& l = *p.line;
      const Tokenizer& tok = rt.loaded().require_tokenizer();
      r.prompt = l.ids ? *l.ids : tok.encode(l.messages ? chat_prompt(*l.messages, o.no_think) : *l.text);
      for (std::int32_t id : r.prompt)
        if (id >= rt.config().vocab_size) throw Error("prompt: token id " + std::to_string(id) + " is out of range for vocab_size " + std::to_string(rt.config().vocab_size));
      r.id = l.id;
      if (l.kv_policy) r.kv_policy = line_kv_policy(*l.kv_policy, o.runtime.seed);
      r.sampling = sampler_options(l, rt.loaded().generation, o.runtime.seed);
      r.max_new_tokens = l.max_tokens.value_or(o.max_tokens);
      r.stop_ids = rt.stop_ids();
      r.stop_ids.insert(r.stop_ids.end(), l.stop_token_ids.begin(), l.stop_token_ids.end());
      engine.check(r);  // a prompt past the context (under its policy), more blocks than the pool
    } catch (const Error& e) {
      error = one_line(e.what());
    }
  }
  seen.emplace(p.id, number);
  if (!error.empty()) {
    ++f.errors;
    return write_line(f.out, {{"id", id}, {"line", number}, {"error", error}});
  }
  f.prompt_tokens[r.id] = static_cast<std::int64_t>(r.prompt.size());
  f.requests.push_back(std::move(r));
}

void read_requests(const BatchCommandOptions& o, const Runtime& rt, const BatchEngine& engine, BatchFiles& f) {
  ResumeState resume;
  f.out = open_output(o.output, resume);
  const std::string input = read_input_file(o.input, "input file");
  std::map<std::string, std::int64_t> seen;
  std::int64_t number = 0;
  for (std::size_t start = 0; start < input.size();) {
    std::size_t end = input.find('\n', start);
    if (end == std::string::npos) end = input.size();
    const std::string_view text(input.data() + start, end - start);
    ++number;
    start = end + 1;
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank lines
    take_line(o, rt, engine, parse_batch_line(text, number), number, f, resume, seen);
  }
}

BatchEngineOptions engine_options(const BatchCommandOptions& o, const Runtime& rt) {
  BatchEngineOptions eo;
  eo.max_running = o.max_running;
  eo.token_budget = o.token_budget;
  eo.context = sequence_context(o, rt.config());
  eo.kv_type = rt.kv_type();
  eo.kv_block = o.runtime.kv_block;
  eo.kv_policy = rt.kv_policy();
  eo.kv_pool_tokens = rt.planned_kv_tokens();  // the memory plan's pool: a line's own policy stays inside it
  eo.batch_invariant = o.batch_invariant;
  eo.prefix_cache = o.prefix_cache;
  return eo;
}

const char* finish_reason(StopReason s) {
  switch (s) {
    case StopReason::EndOfText: return "stop";
    case StopReason::ContextFull: return "context_full";
    default: return "length";
  }
}

// done/total, tokens/s and ETA: redrawn in place on a terminal, a line every 10 s in a log.
class BatchProgress {
 public:
  explicit BatchProgress(std::size_t total) : total_(total), tty_(isatty(STDERR_FILENO) != 0), t0_(Clock::now()), last_(t0_) {}
  void operator()(std::size_t done, std::int64_t tokens, bool final) {
    const auto now = Clock::now();
    if (!final && std::chrono::duration<double>(now - last_).count() < (tty_ ? 0.2 : 10.0)) return;
    last_ = now;
    const double secs = std::max(1e-9, std::chrono::duration<double>(now - t0_).count());
    const double eta = done ? secs * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
    std::fprintf(stderr, "%sbatch: %zu/%zu done | %.1f tokens/s | %.0f s elapsed | eta %.0f s%s", tty_ ? "\r" : "", done, total_,
                 static_cast<double>(tokens) / secs, secs, eta, tty_ && !final ? "" : "\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::size_t total_;
  bool tty_;
  Clock::time_point t0_, last_;
};

}  // namespace

int run_batch(const BatchCommandOptions& o, const std::atomic<bool>& interrupted, Communicator& world) {
  on_every_rank(world, [&] {
    if (o.token_budget < o.max_running)
      throw Error("--token-budget " + std::to_string(o.token_budget) + " is less than --max-running " + std::to_string(o.max_running));
    if (std::filesystem::weakly_canonical(o.input) == std::filesystem::weakly_canonical(o.output))
      throw Error("--output is the input file " + o.input);
  });
  on_rank0(world, [&] { read_input_file(o.input, "input file"); });
  Runtime rt(o.runtime, world, [&](const MappedModel& m) { return batch_kv_request(o, m); });
  BatchEngine engine(rt.model(), engine_options(o, rt));
  BatchFiles files;
  on_rank0(world, [&] { read_requests(o, rt, engine, files); });
  rt.print_load_line();
  // Rank 0's requests join at the first step; after that each step's orders only say whether Ctrl-C
  // or Slurm's SIGTERM reached rank 0, so every rank stops at the same step.
  StepOrders orders;
  orders.submit = std::move(files.requests);
  std::optional<BatchProgress> progress;
  std::size_t done = 0;
  std::int64_t tokens = 0;
  const Tokenizer* tok = rt.tokenizer();
  for (;;) {
    orders.stop = interrupted.load();
    share_orders(world, orders);
    if (orders.stop) break;
    for (auto& r : orders.submit) engine.submit(std::move(r));
    orders.submit.clear();
    if (!progress) progress.emplace(engine.waiting());
    if (engine.idle()) break;
    for (const BatchResult& r : engine.step()) {
      ++done;
      tokens += static_cast<std::int64_t>(r.ids.size());
      if (!rt.speaker()) continue;
      std::vector<std::int32_t> printable;
      for (std::int32_t id : r.ids)
        if (tok && id < tok->size()) printable.push_back(id);
      write_line(files.out, {{"id", r.id}, {"text", tok ? tok->decode(printable) : ""}, {"token_ids", r.ids}, {"finish_reason", finish_reason(r.stop)},
                             {"prompt_tokens", files.prompt_tokens[r.id]}, {"cached_tokens", r.cached_tokens}, {"completion_tokens", r.ids.size()},
                             {"ttft_ms", r.timing.ttft_ms}, {"tpot_ms", r.timing.tpot_ms}});
    }
    if (rt.speaker()) (*progress)(done, tokens, false);
  }
  if (!rt.speaker()) return 0;
  if (!progress) progress.emplace(0);
  (*progress)(done, tokens, true);
  std::fprintf(stderr, "batch: %zu lines | %zu answered now, %zu already in %s, %zu errors", files.total, done, files.skipped,
               o.output.c_str(), files.errors);
  if (!engine.idle())
    std::fprintf(stderr, " | interrupted: %zu unanswered; run the same command again to finish them", engine.waiting() + engine.running());
  std::fputc('\n', stderr);
  return 0;
}

}  // namespace qwen3::cli
