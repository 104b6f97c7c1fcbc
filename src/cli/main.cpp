// qwen3_mpi: command-line entry. Parses options (CLI11), installs the Ctrl-C handler and maps
// errors to exit codes: 0 success, 1 bad input (one line on stderr), 2 internal error.
#include <CLI/CLI.hpp>

#include <atomic>
#include <charconv>
#include <climits>
#include <cstdint>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <omp.h>
#include <time.h>
#include <unistd.h>  // alarm()

#include "cli/commands.hpp"
#include "dist/hierarchical_communicator.hpp"
#include "io/mapping_guard.hpp"
#include "memory/page_buffer.hpp"
#include "mpi/mpi_runtime.hpp"
#include "numa/shared_memory_communicator.hpp"
#include "numa/topology.hpp"
#include "qwen3/error.hpp"

namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<std::int64_t> g_first_sigint_ns{0};

std::int64_t monotonic_ns() {  // clock_gettime is async-signal-safe; std::chrono makes no such promise
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The first Ctrl-C (SIGINT) or SIGTERM stops generation cleanly; a second one ends the process at
// once. One keypress can arrive twice (`timeout` and some shells signal both the process and its
// group), so a repeat within half a second counts as the same one. SIGTERM is what the ranks get when
// Ctrl-C reaches mpirun (it sends SIGCONT, then SIGTERM a second later, then SIGKILL; the ranks sit in
// process groups of their own, out of the terminal's reach) and what Slurm sends at a job's end: rank
// 0 stops between two tokens, prints its timing line, and tells the others.
void on_stop_signal(int sig) {
  const std::int64_t now = monotonic_ns();
  if (!g_interrupted.exchange(true)) {
    g_first_sigint_ns.store(now);
  } else if (now - g_first_sigint_ns.load() > 500000000) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

// SIGTERM gets one second to stop cleanly, then ends the process as it would have by default. A rank
// whose neighbour died waits in a collective that never completes, and must not make srun or mpirun
// wait for their SIGKILL (KillWait, 30 s by default in Slurm); a healthy job stops within one token.
void on_sigterm(int sig) {
  on_stop_signal(sig);
  alarm(1);
}
void on_sigterm_grace_over(int) {
  std::signal(SIGTERM, SIG_DFL);
  std::raise(SIGTERM);
}

// CLI::Range, but "abc" is "not an integer" rather than "not in range", and a value past int64 is
// out of range rather than saturated.
CLI::Validator int_range(std::int64_t lo, std::int64_t hi) {
  const std::string range = std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
      [lo, hi, range](std::string& s) -> std::string {
        std::int64_t v = 0;
        const char* first = s.data() + (s.size() > 1 && s[0] == '+' ? 1 : 0);  // "+3", as strtoll reads it
        const auto [p, ec] = std::from_chars(first, s.data() + s.size(), v);
        if (ec == std::errc::invalid_argument || p != s.data() + s.size()) return "'" + s + "' is not an integer";
        if (ec != std::errc() || v < lo || v > hi) return "Value " + s + " not in range " + range;
        return {};
      },
      "INT in [" + range + "]");
}

// What the command line asks for, parsed once per process (before MPI starts and before the NUMA
// domains' threads do, so a bad option is one line however many members there are).
struct ParsedCommand {
  enum class Kind { Generate, Tokenize, Eval } kind = Kind::Generate;
  qwen3::cli::GenerateOptions generate;
  qwen3::cli::TokenizeOptions tokenize;
  qwen3::cli::EvalCommandOptions eval;
  std::string numa = "auto";
  int& threads() { return kind == Kind::Eval ? eval.threads : generate.threads; }
};

// The command, or the exit status after --help, --version or a parse error (printed by the
// launcher's rank 0 only).
std::variant<int, ParsedCommand> parse_command_line(int argc, char** argv) {
  using namespace qwen3::cli;
  CLI::App app{"qwen3_mpi: run Hugging Face Qwen3 checkpoints on CPUs: OpenMP threads, NUMA domains, MPI ranks"};
  app.set_version_flag("--version", version_text());
  ParsedCommand cmd;
  GenerateOptions& g = cmd.generate;
  app.add_option("-m,--model", g.model_dir, "Hugging Face Qwen3 checkpoint directory (default: the model shipped in models/)");
  app.add_option("-p,--prompt", g.prompt, "Prompt text (none: chat on a terminal, one prompt per line from a pipe)");
  app.add_option("-f,--file", g.prompt_file, "Read the prompt from FILE");
  app.add_option("-n,--n-predict", g.n_predict, "Tokens to generate; -1 = until end-of-text or the context is full")
      ->check(int_range(std::int64_t{-1}, std::int64_t{INT32_MAX}))->capture_default_str();
  app.add_option("-t,--threads", g.threads, "Threads (default: OMP_NUM_THREADS if set, else the cores this process may use)")->check(int_range(0, 4096));
  app.add_option("-c,--ctx-size", g.ctx_size, "Context length in tokens (default: the model's max_position_embeddings)")
      ->check(int_range(std::int64_t{0}, std::int64_t{INT32_MAX}));
  app.add_option("--attention", g.attention, "Attention path")->check(CLI::IsMember({"standard", "streaming"}))->capture_default_str();
  app.add_option("--kernel", g.kernel, "Kernel variant")->check(CLI::IsMember({"auto", "scalar", "avx2", "avx512"}))->capture_default_str();
  app.add_option("--gemm", g.gemm, "Prefill matrix products: onednn (the path its start-up probe finds: bf16 matmul on AMX/AVX-512, else f32 on widened weight tiles; the load line names it) or native (our f32 tiles)")
      ->check(CLI::IsMember({"onednn", "native"}))->capture_default_str();
  app.add_option("--kv-type", g.kv_type, "KV cache element type (auto: f32 for f32 checkpoints, else bf16)")
      ->check(CLI::IsMember({"auto", "f32", "bf16"}))->capture_default_str();
  app.add_option("--kv-block", g.kv_block, "Tokens per KV cache block")->check(int_range(1, 4096))->capture_default_str();
  app.add_flag("--mmap", g.use_mmap, "Run from the memory-mapped checkpoint instead of copying weights into huge pages (less memory, slower decode)");
  app.add_option("--verify", g.verify_ids, "Feed exactly these comma-separated token ids (no template) and decode greedily");
  app.add_option("--gen-len", g.gen_len, "With --verify: number of ids to generate (printed as a list)")
      ->check(int_range(std::int64_t{0}, std::int64_t{INT32_MAX}));
  app.add_flag("--json", g.json, "Print one JSON object (ids, per-step logprobs with top-5, timing) on stdout; with -i or stdin prompts, one per line for each");
  app.add_flag("--chat", g.chat, "Wrap the prompt in Qwen3's ChatML template");
  app.add_flag("--no-think", g.no_think, "With --chat: add the empty think block (enable_thinking=False)");
  app.add_flag("-i,--interactive", g.interactive, "With --chat: multi-turn conversation on stdin, KV cache kept across turns");
  app.add_option("--temp", g.temperature, "Sampling temperature (0 = greedy; default from generation_config.json)");
  app.add_option("--top-k", g.top_k, "Top-k (0 = off; default from generation_config.json)")->check(int_range(0, INT32_MAX));
  // Float ranges (and NaN) are checked in generate_command.cpp, with one-line messages.
  app.add_option("--top-p", g.top_p, "Top-p in [0, 1] (1 = off; default from generation_config.json)");
  app.add_option("--min-p", g.min_p, "Min-p in [0, 1] (0 = off)");
  app.add_option("--repeat-penalty", g.repeat_penalty, "Repetition penalty > 0 (1 = off)");
  app.add_option("--repeat-last-n", g.repeat_last_n, "Tokens the repetition penalty looks back over (-1 = the whole context, as transformers; 0 = none)")
      ->check(int_range(-1, INT32_MAX))->capture_default_str();
  auto* seed_opt = app.add_option("--seed", g.seed, "Random seed for sampling (default 0: runs repeat)");
  // Under mpirun/srun: N ranks = tp x sp (README, "Running on several ranks").
  app.add_option("--tp", g.tp, "Rank groups splitting the KV heads (must divide them; default: the largest that divides both the KV heads and the rank count)")
      ->check(int_range(1, 1 << 20));
  app.add_option("--sp", g.sp, "Ranks per group splitting the KV blocks (default: ranks / tp)")->check(int_range(1, 1 << 20));
  // KV cache eviction (README, "Endless streams"): a bounded policy runs past -c in constant memory.
  auto add_policy_options = [](CLI::App* a, KvPolicyFlags& kv) {
    a->add_option("--kv-policy", kv.kind, "KV cache eviction: full (none, bounded by -c), sink-window (StreamingLLM: --sink first tokens + --window recent), window (recent only), l2 (lowest key norms), h2o (--heavy most attended + --window recent), random")
        ->check(CLI::IsMember({"full", "sink-window", "window", "l2", "h2o", "random"}))->capture_default_str();
    a->add_option("--sink", kv.sink, "Attention sinks kept (default: 4 for sink-window, 0 for l2, h2o and random)")->check(int_range(std::int64_t{0}, std::int64_t{1} << 20));
    a->add_option("--window", kv.window, "Recent tokens kept by sink-window, window and h2o (l2, random: the rest of the budget)")
        ->check(int_range(std::int64_t{1}, std::int64_t{1} << 24))->capture_default_str();
    a->add_option("--heavy", kv.heavy, "h2o: tokens kept for the attention they received, beside --window (default: = --window)")
        ->check(int_range(std::int64_t{0}, std::int64_t{1} << 24));
    a->add_option("--evict-chunk", kv.evict_chunk, "Evict at least this many tokens at once when the budget is exceeded")
        ->check(int_range(std::int64_t{1}, std::int64_t{1} << 24))->capture_default_str();
  };
  add_policy_options(&app, g.kv);
  app.add_flag("--stats", g.stats, "After the timing line: time in collectives and payload sent per decode token");

  TokenizeOptions& t = cmd.tokenize;
  CLI::App* tok = app.add_subcommand("tokenize", "Print the token ids of TEXT (like llama-tokenize)");
  tok->add_option("-m,--model", t.model_dir, "Directory with tokenizer.json")->required();
  tok->add_option("text", t.text, "Text to tokenize")->required();
  tok->add_flag("--json", t.json, "Print {\"ids\": [...], \"tokens\": [...]}");

  EvalCommandOptions& e = cmd.eval;
  CLI::App* ev = app.add_subcommand("eval", "Perplexity, next-token accuracy, speed and memory over a text file");
  ev->add_option("-m,--model", e.model_dir, "Checkpoint directory")->required();
  ev->add_option("--text", e.text_file, "Text file, read as raw bytes and tokenized as one string")->required();
  ev->add_option("--max-tokens", e.max_tokens, "Keep the first N tokens (0 = all)")->check(int_range(std::int64_t{0}, std::int64_t{INT32_MAX}));
  ev->add_option("--attention", e.attention, "Attention path")->check(CLI::IsMember({"standard", "streaming"}))->capture_default_str();
  ev->add_option("--kernel", e.kernel, "Kernel variant")->check(CLI::IsMember({"auto", "scalar", "avx2", "avx512"}))->capture_default_str();
  ev->add_option("--gemm", e.gemm, "Prefill matrix products (chunked protocol): onednn or native")
      ->check(CLI::IsMember({"onednn", "native"}))->capture_default_str();
  ev->add_option("--kv-type", e.kv_type, "KV cache element type")->check(CLI::IsMember({"auto", "f32", "bf16"}))->capture_default_str();
  ev->add_option("--kv-block", e.kv_block, "Tokens per KV cache block")->check(int_range(1, 4096))->capture_default_str();
  ev->add_option("--report-every", e.report_every, "Tokens per reported window of the ppl/accuracy curve")->capture_default_str();
  ev->add_option("--chunk", e.chunk, "llama-perplexity protocol: chunks of N tokens, second half scored (0 = token-by-token streaming)")
      ->capture_default_str();
  ev->add_option("-t,--threads", e.threads, "Threads (default: OMP_NUM_THREADS if set, else the cores this process may use)")->check(int_range(0, 4096));
  ev->add_flag("--json", e.json, "Print one JSON object on stdout");
  add_policy_options(ev, e.kv);
  ev->add_option("--seed", e.seed, "Seed of the random eviction policy");
  ev->add_option("--tp", e.tp, "Rank groups splitting the KV heads")->check(int_range(1, 1 << 20));
  ev->add_option("--sp", e.sp, "Ranks per group splitting the KV blocks")->check(int_range(1, 1 << 20));
  ev->add_option("--csv", e.csv_file, "Also write the windows as CSV to FILE");

  // NUMA domains inside this process (README, "NUMA domains"); for generation and eval.
  for (CLI::App* a : {&app, ev})
    a->add_option("--numa", cmd.numa, "auto: one thread team and one share of the model per NUMA domain this process spans (one domain: as off); off: one team")
        ->check(CLI::IsMember({"auto", "off"}))->capture_default_str();

  const bool speaker = qwen3::mpi::launcher_rank() == 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return speaker ? app.exit(e) : 0;
  } catch (const CLI::CallForVersion& e) {
    return speaker ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    if (speaker) std::fprintf(stderr, "qwen3_mpi: error: %s (see --help)\n", qwen3::one_line(e.what()).c_str());
    return 1;
  }
  cmd.kind = *tok ? ParsedCommand::Kind::Tokenize : *ev ? ParsedCommand::Kind::Eval : ParsedCommand::Kind::Generate;
  g.seed_given = seed_opt->count() > 0;
  return cmd;
}

int run_command(const ParsedCommand& cmd, qwen3::Communicator& world) {
  using namespace qwen3::cli;
  switch (cmd.kind) {
    case ParsedCommand::Kind::Tokenize:
      return run_tokenize(cmd.tokenize);
    case ParsedCommand::Kind::Eval:
      return run_eval(cmd.eval, world);
    case ParsedCommand::Kind::Generate:
      break;
  }
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGALRM, on_sigterm_grace_over);
  std::signal(SIGTERM, on_sigterm);
  return run_generate(cmd.generate, g_interrupted, world);
}

// One member's run: a rank, or one NUMA domain of a rank. Bad input every member sees alike is
// printed by member 0 alone (the others return the same code quietly); a failure only this member saw
// (RankError) is printed here.
int run_member(const ParsedCommand& cmd, qwen3::Communicator& world, bool mpi) {
  const bool speaker = world.rank() == 0;
  try {
    return run_command(cmd, world);
  } catch (const qwen3::FollowerExit& e) {
    return e.exit_code;
  } catch (const qwen3::RankError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "qwen3_mpi: error: %s\n", qwen3::one_line(e.what()).c_str());
    return 1;
  } catch (const qwen3::Error& e) {
    std::fflush(stdout);
    if (speaker) std::fprintf(stderr, "qwen3_mpi: error: %s\n", qwen3::one_line(e.what()).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "qwen3_mpi: error: %sout of memory\n", world.size() > 1 ? ("rank " + std::to_string(world.rank()) + ": ").c_str() : "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qwen3_mpi: internal error: %s\n", qwen3::one_line(e.what()).c_str());
  }
  // Out of memory and internal errors may strike one member only: end the whole job rather than
  // leave the others waiting in a collective.
  std::fflush(stderr);
  if (mpi) qwen3::mpi::abort_job(2);
  if (world.size() > 1) std::_Exit(2);
  return 2;
}

// One member per NUMA domain of this process, each a thread leading its own team bound to the
// domain's cores, all members of one job with every other process's (src/dist/hierarchical_communicator.hpp).
int run_domains(const ParsedCommand& cmd, qwen3::Communicator& procs, const qwen3::numa::DomainPlan& plan, bool mpi) {
  const int n = static_cast<int>(plan.domains.size());
  auto members = qwen3::make_hierarchical_world(procs, qwen3::numa::make_shared_memory_group(n));
  qwen3::set_area_binder(&qwen3::numa::bind_area_to_this_domain);
  std::vector<int> rc(static_cast<std::size_t>(n), 0);
  std::vector<std::thread> threads;
  for (int d = 0; d < n; ++d)
    threads.emplace_back([&, d] {
      const qwen3::numa::Domain& domain = plan.domains[static_cast<std::size_t>(d)];
      ParsedCommand mine = cmd;
      mine.threads() = domain.threads;
      mine.generate.numa_description = mine.eval.numa_description = plan.describe();
      try {
        // The team's master is this thread: bind_team binds it with the others.
        omp_set_num_threads(domain.threads);
        qwen3::numa::bind_team(domain);
      } catch (const qwen3::Error& e) {
        if (d == 0) std::fprintf(stderr, "qwen3_mpi: error: %s\n", qwen3::one_line(e.what()).c_str());
        std::fflush(stderr);
        std::_Exit(1);  // before any collective: nobody waits for this member
      }
      rc[static_cast<std::size_t>(d)] = run_member(mine, *members[static_cast<std::size_t>(d)], mpi);
    });
  for (auto& t : threads) t.join();
  for (int code : rc)
    if (code != 0) return code;
  return 0;
}

int run_process(const ParsedCommand& cmd, qwen3::Communicator& procs, const qwen3::numa::DomainPlan& plan, bool mpi) {
  // A shard truncated under a running job: one line, not "Bus error".
  qwen3::guard_mapped_files(std::string("qwen3_mpi: error: ") + (procs.size() > 1 ? "rank " + std::to_string(procs.rank()) + ": " : ""));
  if (plan.domains.size() > 1) return run_domains(cmd, procs, plan, mpi);
  return run_member(cmd, procs, mpi);
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_command_line(argc, argv);
  if (const int* rc = std::get_if<int>(&parsed)) return *rc;
  ParsedCommand& cmd = std::get<ParsedCommand>(parsed);
  qwen3::numa::DomainPlan plan;
  if (cmd.kind != ParsedCommand::Kind::Tokenize && cmd.numa == "auto") {
    try {
      plan = qwen3::numa::plan_domains(cmd.threads());
    } catch (const qwen3::Error& e) {
      if (qwen3::mpi::launcher_rank() == 0) std::fprintf(stderr, "qwen3_mpi: error: %s\n", qwen3::one_line(e.what()).c_str());
      return 1;
    }
    if (qwen3::mpi::launcher_rank() == 0) std::fputs(plan.notes.c_str(), stderr);
  }
  if (!qwen3::mpi::launched_by_mpi()) return run_process(cmd, qwen3::local_communicator(), plan, false);
  int rc = 0;
  try {
    // Domain members of several processes call MPI from their own threads.
    qwen3::mpi::MpiRuntime mpi(argc, argv, plan.domains.size() > 1);
    // Rank 0 talks to the user; the others' stdout would only repeat it.
    if (mpi.world().rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return 2;
    rc = run_process(cmd, mpi.world(), plan, true);
  } catch (const qwen3::Error& e) {
    std::fprintf(stderr, "qwen3_mpi: error: %s\n", qwen3::one_line(e.what()).c_str());
    return 2;
  }
  return rc;
}
