// bench/decode: prefill and decode speed of a real-shape checkpoint (make one with
// bench/make_random_checkpoint.py), at each thread count, against the memory-bandwidth roofline
// measured in the same run by a STREAM-style read probe.
//   roofline tokens/s = read GB/s / bytes read per token
//   bytes per token   = weight matrices touched by one decode step (layers + lm_head)
//                       + K and V of every cached token (for decode at depth D)
//   build/bench/decode --model DIR [--threads 1,2] [--prompt 512] [--gen 128] [--depth 4096] [--json out.json]
// Under mpiexec (--tp/--sp as for qwen3_mpi) every rank runs the same steps with --threads each; rank
// 0 times them and prints. Bytes per token and the bandwidth probe are then the job's: the probe runs
// on every rank at once and the ranks' GB/s are added, since ranks on one machine share its memory.
#include <CLI/CLI.hpp>

#include <numeric>
#include <random>

#include "bench_util.hpp"
#include "engine/loaded_model.hpp"
#include "engine/session.hpp"
#include "engine/threads.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/q8.hpp"
#include "mpi/mpi_runtime.hpp"

namespace qwen3 {
namespace {

std::vector<std::int32_t> random_ids(std::int64_t n, std::int64_t vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (auto& id : ids) id = static_cast<std::int32_t>(rng() % static_cast<unsigned>(vocab));
  return ids;
}

struct DecodeTiming {
  double seconds_per_token = 0;
  double attention_seconds_per_token = 0;  // of which inside attention() (all layers)
};

// Timing of `gen` single-token decode steps starting at the session's position.
DecodeTiming time_decode(Session& s, std::int64_t gen, std::int64_t vocab) {
  const auto ids = random_ids(gen, vocab, 7);
  const double attn0 = s.model().stats().attention_seconds;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::int32_t id : ids) s.feed(std::span<const std::int32_t>(&id, 1));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double n = static_cast<double>(gen);
  return {secs / n, (s.model().stats().attention_seconds - attn0) / n};
}

// Medians of each field over the reps.
DecodeTiming median_timing(const std::vector<DecodeTiming>& reps) {
  std::vector<double> t, a;
  for (const auto& r : reps) {
    t.push_back(r.seconds_per_token);
    a.push_back(r.attention_seconds_per_token);
  }
  return {bench::median(t), bench::median(a)};
}

}  // namespace
}  // namespace qwen3

int run(int argc, char** argv, qwen3::Communicator& world) {
  using namespace qwen3;
  CLI::App app{"Decode/prefill benchmark against the bandwidth roofline"};
  std::string model_dir, json_path, kv_name = "auto", kernel = "auto";
  std::vector<int> thread_counts = {1, 2};
  std::int64_t prompt = 512, gen = 128, kv_block = 64;
  std::vector<std::int64_t> depths = {4096};
  int reps = 3;
  bool use_mmap = false;
  std::string gemm = "onednn", decode_rows = "f32", weights = "auto";
  int tp = 0, sp = 0;
  std::string expert_split = "auto";
  app.add_option("--tp", tp, "under mpiexec: rank groups splitting the KV heads");
  app.add_option("--sp", sp, "under mpiexec: ranks per group splitting the KV blocks");
  app.add_option("--model", model_dir, "checkpoint directory")->required();
  app.add_option("--threads", thread_counts, "thread counts")->delimiter(',');
  app.add_option("--prompt", prompt, "prefill length");
  app.add_option("--gen", gen, "decode steps");
  app.add_option("--depth", depths, "decode with this many tokens already cached (0 = skip)")->delimiter(',');
  app.add_option("--reps", reps, "repetitions (median)");
  app.add_option("--kv-type", kv_name, "auto|f32|bf16|q8");
  app.add_option("--kv-block", kv_block, "tokens per KV block")->check(CLI::Range(1, 1 << 16));
  app.add_option("--kernel", kernel, "auto|scalar|avx2|avx512");
  app.add_option("--json", json_path, "write results as JSON");
  app.add_option("--gemm", gemm, "prefill matrix products: onednn|native")->check(CLI::IsMember({"onednn", "native"}));
  app.add_option("--decode-rows", decode_rows, "decode activations: f32|bf16|int8 (see qwen3_mpi --decode-rows)")->check(CLI::IsMember({"f32", "bf16", "int8"}));
  app.add_option("--weights", weights, "matrices in memory: auto|bf16|q8 (see qwen3_mpi --weights)")->check(CLI::IsMember({"auto", "bf16", "q8"}));
  app.add_option("--expert-split", expert_split, "mixture-of-experts models on ranks: auto|whole|rows (see qwen3_mpi --expert-split)");
  app.add_flag("--mmap", use_mmap, "run from the file mapping instead of huge-page copies");
  CLI11_PARSE(app, argc, argv);

  const kernels::CpuFeatures cpu = kernels::detect_cpu_features();
  const auto& kt = kernels::select_kernels(kernel, gemm, decode_rows, cpu);
  RankModel rank_model = load_on_ranks(world, model_dir, kt, AttentionKind::Streaming, use_mmap ? WeightPlacement::Map : WeightPlacement::Copy,
                                       LayoutRequest{tp, sp, parse_expert_split(expert_split)},
                                       {}, parse_weight_format(weights));
  LoadedModel& lm = rank_model.loaded;
  const Qwen3Config& c = lm.config;
  const Qwen3Weights& w = lm.model->weights();
  const KvType kv = resolve_kv_type(kv_name, *lm.model);
  // Decode reads every layer matrix and the lm_head; of embed_tokens only one row (unless tied). With
  // several ranks, matrix_bytes is already without the embedding, and the job reads every rank's.
  const double embed_bytes = w.embed_tokens.dtype == DType::Q8 ? static_cast<double>(kernels::q8_bytes(w.embed_tokens.rows, w.embed_tokens.cols))
                             : static_cast<double>(w.embed_tokens.rows * w.embed_tokens.cols) * static_cast<double>(dtype_size(w.embed_tokens.dtype));
  // A mixture-of-experts layer reads the router and experts_per_token of its experts per token (one
  // token decoding): the roofline counts those active bytes, not every expert's.
  double idle_expert_bytes = 0;
  if (c.moe)
    for (const LayerWeights& l : w.layers)
      for (const ExpertWeights& e : l.experts)
        for (const kernels::MatrixView* m : {&e.gate_proj, &e.up_proj, &e.down_proj})
          idle_expert_bytes += (1.0 - static_cast<double>(c.moe->experts_per_token) / static_cast<double>(c.moe->num_experts)) *
                               (m->dtype == DType::Q8 ? static_cast<double>(kernels::q8_bytes(m->rows, m->cols))
                                                       : static_cast<double>(m->rows * m->cols) * static_cast<double>(dtype_size(m->dtype)));
  float job_bytes[1] = {static_cast<float>(static_cast<double>(w.matrix_bytes) - idle_expert_bytes -
                                           (c.tie_word_embeddings || world.size() > 1 ? 0.0 : embed_bytes))};
  world.allreduce_sum(job_bytes);
  const double weight_bytes = job_bytes[0];
  const double kv_bytes_per_pos = 2.0 * static_cast<double>(c.num_hidden_layers * c.num_key_value_heads) *
                                  static_cast<double>(kv_row_bytes(kv, c.head_dim));
  std::int64_t max_depth = 0;
  for (auto d : depths) max_depth = std::max(max_depth, d);

  const std::string layout = std::to_string(world.size()) + " (" + lm.layout.describe() + ")";
  std::printf("decode benchmark: %s | weights %.1f MiB read per token (%s) | kv %s | kernels %s | prefill gemm %s | ranks %s | cpu: %s\n",
              model_dir.c_str(), weight_bytes / (1 << 20), describe_weight_dtypes(w).c_str(), std::string(kernels::kv_type_name(kv)).c_str(),
              kernels::describe_kernels(kt, w.body_dtype()).c_str(), kernels::describe_prefill_gemm(kt, w.body_dtype()).c_str(), layout.c_str(),
              cpu.describe().c_str());
  std::printf("%-5s %-7s %-9s %-10s %8s %10s %12s %10s %12s %9s\n", "ranks", "threads", "attention", "test", "depth", "tokens/s",
              "attn_ms/tok", "read_GB/s", "roofline_t/s", "fraction");
  nlohmann::json rows = nlohmann::json::array();
  for (int t : thread_counts) {
    if (const ThreadCount tc = set_thread_count(t); tc.granted != t) {
      std::fprintf(stderr, "decode benchmark: %d threads asked for, %d granted\n", t, tc.granted);
      return 1;
    }
    float bw_sum[1] = {static_cast<float>(bench::read_bandwidth_gbs(t))};  // every rank at once
    world.allreduce_sum(bw_sum);
    const double bw = bw_sum[0];
    // bytes_per_token 0: no roofline (prefill is compute bound).
    auto report = [&](AttentionKind kind, const char* test, std::int64_t depth, double tps, double attn_ms,
                      double bytes_per_token) {
      const std::string attention(attention_kind_name(kind));
      const double roof = bytes_per_token > 0 ? bw * 1e9 / bytes_per_token : 0;
      char attn[32] = "-";
      if (attn_ms >= 0) std::snprintf(attn, sizeof attn, "%.2f", attn_ms);
      std::printf("%-5d %-7d %-9s %-10s %8lld %10.2f %12s %10.2f %12.2f %9s\n", world.size(), t, attention.c_str(), test, static_cast<long long>(depth),
                  tps, attn, bw, roof, roof > 0 ? (std::to_string(static_cast<int>(100 * tps / roof + 0.5)) + "%").c_str() : "-");
      std::fflush(stdout);
      rows.push_back({{"ranks", world.size()}, {"tp", lm.layout.tp}, {"sp", lm.layout.sp}, {"threads", t}, {"attention", attention}, {"test", test}, {"depth", depth}, {"tokens_per_s", tps},
                      {"attention_ms_per_token", attn_ms >= 0 ? nlohmann::json(attn_ms) : nlohmann::json(nullptr)},
                      {"read_gbs", bw}, {"roofline_tokens_per_s", roof}, {"fraction_of_roofline", roof > 0 ? tps / roof : 0.0},
                      {"weights", describe_weight_dtypes(w)}, {"weight_bytes_per_token", weight_bytes}});
    };
    auto report_decode = [&](AttentionKind kind, std::int64_t depth, const DecodeTiming& m, double bytes_per_token) {
      report(kind, "decode", depth, 1.0 / m.seconds_per_token, 1e3 * m.attention_seconds_per_token, bytes_per_token);
    };

    Session s(*lm.model, lm.model->new_cache(kv, kv_block, std::max(prompt, max_depth) + gen + 8));
    const auto prompt_ids = random_ids(prompt, c.vocab_size, 1);
    std::vector<double> prefill_attention;
    const double pp = bench::time_median(reps, [&] {
      s.rewind(0);
      const double a0 = s.model().stats().attention_seconds;
      s.feed(prompt_ids);
      prefill_attention.push_back(s.model().stats().attention_seconds - a0);
    });
    report(AttentionKind::Streaming, "prefill", 0, static_cast<double>(prompt) / pp,
           1e3 * bench::median(prefill_attention) / static_cast<double>(prompt), 0);

    for (AttentionKind kind : {AttentionKind::Streaming, AttentionKind::Standard}) {
      lm.model->set_attention_kind(kind);
      std::vector<DecodeTiming> runs;
      for (int r = 0; r < reps; ++r) {
        s.rewind(0);
        s.feed(std::vector<std::int32_t>{1});
        runs.push_back(time_decode(s, gen, c.vocab_size));
      }
      report_decode(kind, 0, median_timing(runs), weight_bytes + kv_bytes_per_pos * static_cast<double>(gen) / 2);
    }
    for (std::int64_t depth : depths) {
      if (depth <= 0) continue;
      lm.model->set_attention_kind(AttentionKind::Streaming);
      s.rewind(0);
      s.feed(random_ids(depth, c.vocab_size, 3));
      for (AttentionKind kind : {AttentionKind::Streaming, AttentionKind::Standard}) {
        lm.model->set_attention_kind(kind);
        std::vector<DecodeTiming> runs;
        for (int r = 0; r < reps; ++r) {
          s.rewind(depth);
          runs.push_back(time_decode(s, gen, c.vocab_size));
        }
        report_decode(kind, depth, median_timing(runs),
                      weight_bytes + kv_bytes_per_pos * (static_cast<double>(depth) + static_cast<double>(gen) / 2));
      }
    }
  }
  if (world.rank() == 0) bench::write_json(json_path, {{"benchmark", "decode"}, {"model", model_dir}, {"cpu", cpu.describe()}, {"kernels", kernels::isa_name(kt.isa)}, {"prefill_gemm", kernels::describe_prefill_gemm(kt, w.embed_tokens.dtype)},
                                {"weight_bytes_per_token", weight_bytes}, {"rows", rows}});
  return 0;
}

int main(int argc, char** argv) {
  if (!qwen3::mpi::launched_by_mpi()) return run(argc, argv, qwen3::local_communicator());
  qwen3::mpi::MpiRuntime mpi(argc, argv);
  if (mpi.world().rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return 2;  // rank 0 reports
  return run(argc, argv, mpi.world());
}
