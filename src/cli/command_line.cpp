#include "cli/command_line.hpp"

#include <CLI/CLI.hpp>

#include <climits>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/runtime_options.hpp"
#include "mpi/mpi_runtime.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cli {
namespace {

void add_generate_options(CLI::App& app, GenerateOptions& g) {
  add_runtime_options(app, g.runtime, "Random seed for sampling (default 0: runs repeat)");
  app.add_option("-p,--prompt", g.prompt, "Prompt text (none: chat on a terminal, one prompt per line from a pipe)");
  app.add_option("-f,--file", g.prompt_file, "Read the prompt from FILE");
  app.add_option("-n,--n-predict", g.n_predict, "Tokens to generate; -1 = until end-of-text or the context is full")
      ->check(int_range(-1, INT32_MAX))->capture_default_str();
  app.add_option("-c,--ctx-size", g.runtime.context, "Context length in tokens (default: the model's max_position_embeddings)")
      ->check(int_range(0, INT32_MAX));
  app.add_option("--verify", g.verify_ids, "Feed exactly these comma-separated token ids (no template) and decode greedily");
  app.add_option("--gen-len", g.gen_len, "With --verify: number of ids to generate (printed as a list)")->check(int_range(0, INT32_MAX));
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
  app.add_flag("--stats", g.stats, "After the timing line: time in collectives and payload sent per decode token");
}

void add_eval_options(CLI::App& ev, EvalCommandOptions& e) {
  add_runtime_options(ev, e.runtime, "Seed of the random eviction policy");
  ev.add_option("--text", e.text_file, "Text file, read as raw bytes and tokenized as one string")->required();
  ev.add_option("--max-tokens", e.max_tokens, "Keep the first N tokens (0 = all)")->check(int_range(0, INT32_MAX));
  ev.add_option("--report-every", e.report_every, "Tokens per reported window of the ppl/accuracy curve")->capture_default_str();
  ev.add_option("--chunk", e.chunk, "llama-perplexity protocol: chunks of N tokens, second half scored (0 = token-by-token streaming)")
      ->capture_default_str();
  ev.add_flag("--json", e.json, "Print one JSON object on stdout");
  ev.add_option("--csv", e.csv_file, "Also write the windows as CSV to FILE");
  ev.add_option("--predictions", e.predictions_file,
                "Also write the arg-max id of every scored position to FILE, one per line (next-token agreement of two runs: compare their files)");
}

constexpr const char* kBatchInvariantHelp =
    "Each sequence's logits bit for bit as alone, whatever runs beside it (costs throughput from 16 sequences at once)";
constexpr const char* kNoPrefixCacheHelp =
    "Compute every prompt in full: by default a sequence starts from the cached KV blocks of an earlier one with the same first tokens";

void add_batch_options(CLI::App& b, BatchCommandOptions& o) {
  add_runtime_options(b, o.runtime, "Seed of a line without one (sampling), and of the random eviction policy");
  b.add_option("--input", o.input, "Prompts, one JSON object per line: id, prompt (text or token ids) or messages, optional max_tokens, temperature, top_k, top_p, min_p, repetition_penalty, seed, stop_token_ids")->required();
  b.add_option("--output", o.output, "Results, one JSON object per line, each written when its request finishes; run again to resume")->required();
  b.add_option("-c,--ctx-size", o.runtime.context, "Tokens one sequence may hold (default: the model's max_position_embeddings)")->check(int_range(0, INT32_MAX));
  b.add_option("--max-tokens", o.max_tokens, "Tokens to generate for a line without max_tokens")->check(int_range(1, INT32_MAX))->capture_default_str();
  b.add_option("--max-running", o.max_running, "Sequences in one forward step")->check(int_range(1, 4096))->capture_default_str();
  b.add_option("--token-budget", o.token_budget, "Tokens in one forward step: a decode token per running sequence, then prompt chunks")
      ->check(int_range(1, 1 << 20))->capture_default_str();
  b.add_flag("--no-think", o.no_think, "messages: add the empty think block (enable_thinking=False)");
  b.add_flag("--batch-invariant", o.batch_invariant, kBatchInvariantHelp);
  b.add_flag("!--no-prefix-cache", o.prefix_cache, kNoPrefixCacheHelp);
}

void add_serve_options(CLI::App& sv, ServeCommandOptions& o) {
  add_runtime_options(sv, o.runtime, "Seed of a request without one (sampling), and of the random eviction policy");
  sv.add_option("--host", o.host, "Address to listen on (another than loopback only when asked)")->capture_default_str();
  sv.add_option("--port", o.port, "TCP port (0: any free port, printed)")->check(int_range(0, 65535))->capture_default_str();
  sv.add_option("--api-key", o.api_key, "Require 'Authorization: Bearer KEY' on /v1/ routes")->envname("QWEN3_API_KEY");
  sv.add_option("--served-model-name", o.model_name, "The model name clients give and /v1/models lists (default: the model folder's name)");
  sv.add_option("-c,--ctx-size", o.runtime.context, "Tokens one sequence may hold (default: the model's max_position_embeddings)")->check(int_range(0, INT32_MAX));
  sv.add_option("--max-running", o.max_running, "Sequences in one forward step")->check(int_range(1, 4096))->capture_default_str();
  sv.add_option("--token-budget", o.token_budget, "Tokens in one forward step: a decode token per running sequence, then prompt chunks")
      ->check(int_range(1, 1 << 20))->capture_default_str();
  sv.add_option("--max-queue", o.max_queue, "Sequences that may wait beyond the running ones; more are refused with 503")
      ->check(int_range(0, 1 << 20))->capture_default_str();
  sv.add_option("--max-body", o.max_body_bytes, "Largest request body in bytes (larger: 413)")->check(int_range(1024, INT32_MAX))->capture_default_str();
  sv.add_option("--timeout", o.timeout_s, "Seconds to read a request or write a response before the connection is dropped")
      ->check(int_range(1, 3600))->capture_default_str();
  sv.add_option("--max-connections", o.max_connections, "Connections served at once (as many more wait; beyond that 503)")
      ->check(int_range(1, 4096))->capture_default_str();
  sv.add_option("--drain-timeout", o.drain_s, "After SIGTERM: seconds running requests may take to finish before they are ended")
      ->check(int_range(0, 3600))->capture_default_str();
  sv.add_flag("--batch-invariant", o.batch_invariant, kBatchInvariantHelp);
  sv.add_flag("!--no-prefix-cache", o.prefix_cache, kNoPrefixCacheHelp);
}

void add_tokenize_options(CLI::App& tok, TokenizeOptions& t) {
  tok.add_option("-m,--model", t.model_dir, "Directory with tokenizer.json")->required();
  tok.add_option("text", t.text, "Text to tokenize")->required();
  tok.add_flag("--json", t.json, "Print {\"ids\": [...], \"tokens\": [...]}");
}

}  // namespace

std::variant<int, ParsedCommand> parse_command_line(int argc, char** argv) {
  CLI::App app{"qwen3_mpi: run Hugging Face Qwen3 checkpoints on CPUs: OpenMP threads, NUMA domains, MPI ranks"};
  app.set_version_flag("--version", version_text());
  ParsedCommand cmd;
  add_generate_options(app, cmd.generate);
  CLI::App* tok = app.add_subcommand("tokenize", "Print the token ids of TEXT (like llama-tokenize)");
  add_tokenize_options(*tok, cmd.tokenize);
  CLI::App* ev = app.add_subcommand("eval", "Perplexity, next-token accuracy, speed and memory over a text file");
  add_eval_options(*ev, cmd.eval);
  CLI::App* ba = app.add_subcommand("batch", "Every request of a JSON-lines prompt file through one continuous-batching engine; resumable");
  add_batch_options(*ba, cmd.batch);
  CLI::App* sv = app.add_subcommand("serve", "OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions) on rank 0");
  add_serve_options(*sv, cmd.serve);

  const bool speaker = mpi::launcher_rank() == 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return speaker ? app.exit(e) : 0;
  } catch (const CLI::CallForVersion& e) {
    return speaker ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    if (speaker) std::fprintf(stderr, "qwen3_mpi: error: %s (see --help)\n", one_line(e.what()).c_str());
    return 1;
  }
  cmd.kind = *tok ? ParsedCommand::Kind::Tokenize
             : *ev ? ParsedCommand::Kind::Eval
             : *ba ? ParsedCommand::Kind::Batch
             : *sv ? ParsedCommand::Kind::Serve
                   : ParsedCommand::Kind::Generate;
  finish_runtime_options(app, cmd.generate.runtime);
  finish_runtime_options(*ev, cmd.eval.runtime);
  finish_runtime_options(*ba, cmd.batch.runtime);
  finish_runtime_options(*sv, cmd.serve.runtime);
  return cmd;
}

}  // namespace qwen3::cli
