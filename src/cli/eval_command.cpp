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
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "engine/agreement.hpp"
#include "engine/evaluate.hpp"
#include "engine/threads.hpp"
#include "engine/loaded_model.hpp"
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

// The weights are mapped, not copied, so the KV cache and the logits are all that is left to
// allocate: check them against the host's memory now, with the token count known.
void check_eval_memory(Communicator& world, const LoadedModel& lm, const EvalOptions& eo, std::int64_t n_tokens) {
  const KvEvictionPolicy policy(eo.kv_policy);
  KvRequest kv;
  kv.type = eo.kv_type;
  kv.block = eo.kv_block;
  kv.logits_rows = eo.chunk > 0 ? eo.chunk : 1;
  if (kv.type == KvType::F32) kv.instead.push_back("--kv-type bf16 (half the bytes)");
  if (policy.bounded()) {
    kv.tokens = policy.budget();
    kv.asked_by = "eval with --kv-policy " + describe_kv_policy(eo.kv_policy);
    kv.instead.push_back("a smaller --window or --sink");
  } else if (eo.chunk > 0) {
    kv.tokens = eo.chunk;
    kv.asked_by = "eval --chunk " + std::to_string(eo.chunk);
    kv.instead.push_back("a smaller --chunk");
  } else {
    kv.tokens = std::max<std::int64_t>(1, n_tokens);
    kv.asked_by = "eval of " + std::to_string(n_tokens) + " tokens with --kv-policy full";
    kv.instead.push_back("a smaller --max-tokens");
    kv.instead.push_back("--kv-policy sink-window to stream in a bounded cache");
  }
  const Qwen3Model& m = *lm.model;
  plan_memory(world, rank_memory(lm.config, m.distribution().part, static_cast<double>(m.weights().matrix_bytes), kv), kv,
              lm.config.max_position_embeddings, lm.dir.string());
}

}  // namespace

int run_eval(const EvalCommandOptions& o, Communicator& world) {
  if (o.report_every < 1) throw Error("--report-every " + std::to_string(o.report_every) + ": expected a positive number of tokens");
  if (o.chunk < 0 || o.chunk == 1) throw Error("--chunk " + std::to_string(o.chunk) + ": expected 0 (streaming protocol) or at least 2");
  const bool speaker = world.rank() == 0;  // rank 0 reads the text and reports; the others follow
  std::string text;
  on_rank0(world, [&] {
    text = read_input_file(o.text_file, "text file");
    if (text.empty()) throw Error(o.text_file + ": the text file is empty");
  });
  const std::string notes = thread_count_notes(set_thread_count(o.threads));
  if (speaker) std::fputs(notes.c_str(), stderr);
  const kernels::KernelTable& kt = kernels::select_kernels(o.kernel, o.gemm, kernels::detect_cpu_features());
  const RankModel rank_model = load_on_ranks(world, o.model_dir, kt, parse_attention_kind(o.attention), WeightPlacement::Map, o.tp, o.sp);
  const LoadedModel& lm = rank_model.loaded;
  std::vector<std::int32_t> ids;
  // With --max-tokens only the part of the text that gives them is tokenized (a 100 MB file for a
  // 32k-token run costs its bytes, not five times that in ids and scratch).
  on_rank0(world, [&] {
    const Tokenizer& tok = lm.require_tokenizer();
    ids = o.max_tokens > 0 ? tok.encode_prefix(text, static_cast<std::size_t>(o.max_tokens)) : tok.encode(text);
  });
  share_ids(world, ids);

  EvalOptions eo;
  eo.window = o.report_every;
  eo.chunk = o.chunk;
  eo.kv_block = o.kv_block;
  eo.kv_policy = kv_policy_options(o.kv, o.seed);
  eo.kv_type = resolve_kv_type(o.kv_type, *lm.model);
  check_eval_memory(world, lm, eo, static_cast<std::int64_t>(ids.size()));
  Progress progress;
  const EvalResult r = evaluate(*lm.model, ids, eo, [&](std::int64_t d, std::int64_t t) {
    if (speaker) progress(d, t);
  });
  const std::size_t rss = peak_rss_bytes();
  if (!speaker) return 0;

  nlohmann::json windows = nlohmann::json::array();
  for (const auto& w : r.windows)
    windows.push_back({{"start", w.start}, {"end", w.end}, {"ppl", w.ppl}, {"accuracy", w.accuracy}, {"ms_per_token", w.ms_per_token},
                       {"kv_bytes", w.kv_bytes}, {"rss_bytes", w.rss_bytes}});
  const nlohmann::json j = {{"model", o.model_dir}, {"text", o.text_file}, {"protocol", o.chunk > 0 ? "chunked" : "streaming"},
                            {"attention", o.attention}, {"kv_type", kernels::kv_type_name(eo.kv_type)},
                            {"tokens", r.tokens}, {"scored", r.scored}, {"ppl", r.ppl}, {"accuracy", r.accuracy},
                            {"ttft_ms", r.ttft_ms}, {"tpot_ms", r.tpot_ms}, {"tokens_per_s", r.tokens_per_s},
                            {"attn_ms_per_token", r.attn_ms_per_token}, {"peak_kv_bytes", r.peak_kv_bytes},
                            {"peak_rss_bytes", rss}, {"report_every", o.report_every}, {"kv_policy", o.kv.kind}, {"sink", KvEvictionPolicy(eo.kv_policy).sinks()},
                            {"kv_window", o.kv.window}, {"kv_heavy", KvEvictionPolicy(eo.kv_policy).heavy()}, {"chunk", o.chunk}, {"windows", windows}};
  if (!o.csv_file.empty()) {
    std::ofstream csv(o.csv_file);
    if (!csv) throw Error(o.csv_file + ": cannot write CSV");
    csv << "start,end,ppl,accuracy,ms_per_token,kv_bytes,rss_bytes\n";
    for (const auto& w : r.windows)
      csv << w.start << ',' << w.end << ',' << w.ppl << ',' << w.accuracy << ',' << w.ms_per_token << ',' << w.kv_bytes << ',' << w.rss_bytes << '\n';
  }
  if (o.json) {
    std::cout << j.dump() << std::endl;
    return 0;
  }
  std::printf("eval: %s on %s | %s protocol | attention %s | kv %s | kv policy %s%s\n", o.model_dir.c_str(), o.text_file.c_str(),
              o.chunk > 0 ? "chunked" : "streaming", o.attention.c_str(), std::string(kernels::kv_type_name(eo.kv_type)).c_str(),
              describe_kv_policy(eo.kv_policy).c_str(), o.numa_description.empty() ? "" : (" | numa " + o.numa_description).c_str());
  std::printf("%8s %8s %10s %10s %9s %9s %12s %14s %14s\n", "tokens", "ppl", "accuracy", "ttft_ms", "tpot_ms", "tokens/s",
              "attn_ms/tok", "peak_kv_bytes", "peak_rss_bytes");
  std::printf("%8lld %8.3f %10.4f %10.2f %9.3f %9.1f %12.4f %14zu %14zu\n", static_cast<long long>(r.tokens), r.ppl, r.accuracy,
              r.ttft_ms, r.tpot_ms, r.tokens_per_s, r.attn_ms_per_token, r.peak_kv_bytes, rss);
  std::printf("\n%8s %8s %10s %10s\n", "start", "end", "ppl", "accuracy");
  for (const auto& w : r.windows)
    std::printf("%8lld %8lld %10.3f %10.4f\n", static_cast<long long>(w.start), static_cast<long long>(w.end), w.ppl, w.accuracy);
  return 0;
}

}  // namespace qwen3::cli
