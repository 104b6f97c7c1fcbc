// `qwen3_mpi eval`: perplexity and next-token accuracy over a text file, with the speed and memory
// columns of the seed reports. Table on stdout (or one JSON object with --json); progress on stderr.
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "engine/agreement.hpp"
#include "engine/evaluate.hpp"
#include "engine/runtime.hpp"
#include "kernels/dispatch.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cli {
namespace {

std::size_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::size_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

// A one-line progress bar, redrawn in place on a terminal and printed every few seconds otherwise.
class Progress {
 public:
  Progress() : tty_(isatty(STDERR_FILENO) != 0), t0_(std::chrono::steady_clock::now()) {}
  void operator()(std::int64_t done, std::int64_t total) {
    const auto now = std::chrono::steady_clock::now();
    const double since_draw = std::chrono::duration<double>(now - last_).count();
    if (done < total && since_draw < (tty_ ? 0.2 : 5.0)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - t0_).count();
    if (secs < 1.0 && done < total) return;  // short runs print nothing
    const int width = 30, filled = static_cast<int>(width * done / std::max<std::int64_t>(1, total));
    std::fprintf(stderr, "%s[%s%s] %3d%% %lld/%lld tokens %.1f tokens/s%s", tty_ ? "\r" : "", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(), static_cast<int>(100 * done / std::max<std::int64_t>(1, total)),
                 static_cast<long long>(done), static_cast<long long>(total), static_cast<double>(done) / secs, tty_ && done < total ? "" : "\n");
    printed_ = true;
  }

 private:
  bool tty_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point t0_, last_{};
};

// What the KV cache must hold for eval over `n_tokens`: the policy's budget, one chunk, or the text.
KvRequest eval_kv_request(const EvalCommandOptions& o, const KvPolicyOptions& policy_options, DType weights, std::int64_t n_tokens) {
  const KvEvictionPolicy policy(policy_options);
  KvRequest kv;
  kv.type = resolve_kv_type(o.runtime.kv_type, weights);
  kv.block = o.runtime.kv_block;
  kv.logits_rows = o.chunk > 0 ? o.chunk : 1;
  if (kv.type == KvType::F32) kv.instead.push_back("--kv-type bf16 (half the bytes)");
  if (policy.bounded()) {
    kv.tokens = policy.budget();
    kv.asked_by = "eval with --kv-policy " + describe_kv_policy(policy_options);
    kv.instead.push_back("a smaller --window or --sink");
  } else if (o.chunk > 0) {
    kv.tokens = o.chunk;
    kv.asked_by = "eval --chunk " + std::to_string(o.chunk);
    kv.instead.push_back("a smaller --chunk");
  } else {
    kv.tokens = std::max<std::int64_t>(1, n_tokens);
    kv.asked_by = "eval of " + std::to_string(n_tokens) + " tokens with --kv-policy full";
    kv.instead.push_back("a smaller --max-tokens");
    kv.instead.push_back("--kv-policy sink-window to stream in a bounded cache");
  }
  return kv;
}

// Rank 0 tokenizes the text (with --max-tokens only the part that gives them: a 100 MB file for a
// 32k-token run costs its bytes, not five times that in ids and scratch), checks it can be scored,
// and shares the ids.
std::vector<std::int32_t> eval_tokens(const EvalCommandOptions& o, const MappedModel& m, const std::string& text, Communicator& world) {
  std::vector<std::int32_t> ids;
  on_rank0(world, [&] {
    if (!m.tokenizer) throw Error(m.dir.string() + ": no tokenizer.json (needed for text prompts and output)");
    ids = o.max_tokens > 0 ? m.tokenizer->encode_prefix(text, static_cast<std::size_t>(o.max_tokens)) : m.tokenizer->encode(text);
    const auto n = static_cast<std::int64_t>(ids.size());
    if (n < 2) throw Error("eval: the text has " + std::to_string(n) + " token(s); at least 2 are needed to score one prediction");
    if (o.chunk > n) throw Error("eval: --chunk " + std::to_string(o.chunk) + " is longer than the text (" + std::to_string(n) + " tokens)");
  });
  share_ids(world, ids);
  return ids;
}

// The highest RoPE position the run reaches: the text's last token, a chunk's last, or (sink-window,
// which keeps cache positions) the budget's last.
std::int64_t highest_position(const EvalCommandOptions& o, const KvPolicyOptions& policy, std::int64_t n_tokens) {
  if (o.chunk > 0) return o.chunk - 1;
  if (policy.kind == KvPolicyKind::SinkWindow) return std::min(n_tokens, KvEvictionPolicy(policy).budget()) - 1;
  return n_tokens - 1;
}

void write_csv(std::ofstream& csv, const EvalResult& r) {
  csv << "start,end,ppl,accuracy,ms_per_token,kv_bytes,rss_bytes\n";
  for (const auto& w : r.windows)
    csv << w.start << ',' << w.end << ',' << w.ppl << ',' << w.accuracy << ',' << w.ms_per_token << ',' << w.kv_bytes << ',' << w.rss_bytes << '\n';
}

nlohmann::json eval_json(const EvalCommandOptions& o, const Runtime& rt, const EvalResult& r, std::size_t rss) {
  nlohmann::json windows = nlohmann::json::array();
  for (const auto& w : r.windows)
    windows.push_back({{"start", w.start}, {"end", w.end}, {"ppl", w.ppl}, {"accuracy", w.accuracy}, {"ms_per_token", w.ms_per_token},
                       {"kv_bytes", w.kv_bytes}, {"rss_bytes", w.rss_bytes}});
  const RuntimeOptions& ro = rt.options();
  const KvEvictionPolicy policy(rt.kv_policy());
  return {{"model", ro.model_dir}, {"text", o.text_file}, {"protocol", o.chunk > 0 ? "chunked" : "streaming"},
          {"attention", ro.attention}, {"kv_type", kernels::kv_type_name(rt.kv_type())},
          {"tokens", r.tokens}, {"scored", r.scored}, {"ppl", r.ppl}, {"accuracy", r.accuracy},
          {"ttft_ms", r.ttft_ms}, {"tpot_ms", r.tpot_ms}, {"tokens_per_s", r.tokens_per_s},
          {"attn_ms_per_token", r.attn_ms_per_token}, {"peak_kv_bytes", r.peak_kv_bytes},
          {"peak_rss_bytes", rss}, {"report_every", o.report_every}, {"kv_policy", ro.kv.kind}, {"sink", policy.sinks()},
          {"kv_window", ro.kv.window}, {"kv_heavy", policy.heavy()}, {"chunk", o.chunk}, {"windows", windows}};
}

void print_eval_table(const EvalCommandOptions& o, const Runtime& rt, const EvalResult& r, std::size_t rss) {
  const RuntimeOptions& ro = rt.options();
  std::printf("eval: %s on %s | %s protocol | attention %s | kv %s | kv policy %s%s\n", ro.model_dir.c_str(), o.text_file.c_str(),
              o.chunk > 0 ? "chunked" : "streaming", ro.attention.c_str(), std::string(kernels::kv_type_name(rt.kv_type())).c_str(),
              describe_kv_policy(rt.kv_policy()).c_str(), ro.numa_description.empty() ? "" : (" | numa " + ro.numa_description).c_str());
  std::printf("%8s %8s %10s %10s %9s %9s %12s %14s %14s\n", "tokens", "ppl", "accuracy", "ttft_ms", "tpot_ms", "tokens/s",
              "attn_ms/tok", "peak_kv_bytes", "peak_rss_bytes");
  std::printf("%8lld %8.3f %10.4f %10.2f %9.3f %9.1f %12.4f %14zu %14zu\n", static_cast<long long>(r.tokens), r.ppl, r.accuracy,
              r.ttft_ms, r.tpot_ms, r.tokens_per_s, r.attn_ms_per_token, r.peak_kv_bytes, rss);
  std::printf("\n%8s %8s %10s %10s\n", "start", "end", "ppl", "accuracy");
  for (const auto& w : r.windows)
    std::printf("%8lld %8lld %10.3f %10.4f\n", static_cast<long long>(w.start), static_cast<long long>(w.end), w.ppl, w.accuracy);
}

}  // namespace

int run_eval(const EvalCommandOptions& o, Communicator& world) {
  on_every_rank(world, [&] {
    if (o.report_every < 1) throw Error("--report-every " + std::to_string(o.report_every) + ": expected a positive number of tokens");
    if (o.chunk < 0 || o.chunk == 1) throw Error("--chunk " + std::to_string(o.chunk) + ": expected 0 (streaming protocol) or at least 2");
  });
  std::string text;
  std::optional<std::ofstream> csv, predictions;  // opened before the run: a path that cannot be written fails first
  on_rank0(world, [&] {
    text = read_input_file(o.text_file, "text file");
    if (text.empty()) throw Error(o.text_file + ": the text file is empty");
    if (!o.csv_file.empty() && !csv.emplace(o.csv_file)) throw Error(o.csv_file + ": cannot write CSV");
    if (!o.predictions_file.empty() && !predictions.emplace(o.predictions_file)) throw Error(o.predictions_file + ": cannot write predictions");
  });
  std::vector<std::int32_t> ids;
  Runtime rt(o.runtime, world, [&](const MappedModel& m) {
    ids = eval_tokens(o, m, text, world);
    return eval_kv_request(o, kv_policy_options(o.runtime.kv, o.runtime.seed), m.weights.checkpoint_dtype, static_cast<std::int64_t>(ids.size()));
  });
  rt.print_load_line();
  const std::int64_t max_positions = rt.config().max_position_embeddings;
  const std::int64_t highest = highest_position(o, rt.kv_policy(), static_cast<std::int64_t>(ids.size()));
  if (rt.speaker() && highest >= max_positions)
    std::fprintf(stderr, "note: eval reaches position %lld, past the model's max_position_embeddings %lld; scores there are extrapolation\n",
                 static_cast<long long>(highest), static_cast<long long>(max_positions));

  EvalOptions eo;
  eo.window = o.report_every;
  eo.chunk = o.chunk;
  eo.kv_block = o.runtime.kv_block;
  eo.kv_policy = rt.kv_policy();
  eo.kv_type = rt.kv_type();
  const bool speaker = rt.speaker();
  Progress progress;
  const EvalResult r = evaluate(rt.model(), ids, eo, [&](std::int64_t d, std::int64_t t) {
    if (speaker) progress(d, t);
  });
  const std::size_t rss = peak_rss_bytes();
  if (!speaker) return 0;
  if (csv) write_csv(*csv, r);
  if (predictions)
    for (const std::int32_t id : r.predictions) *predictions << id << '\n';
  if (o.json) std::cout << eval_json(o, rt, r, rss).dump() << std::endl;
  else print_eval_table(o, rt, r, rss);
  return 0;
}

}  // namespace qwen3::cli
