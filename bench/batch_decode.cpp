// bench/batch_decode: decode throughput of B sequences in one step (continuous batching's steady
// state), as llama.cpp's llama-batched-bench measures it: B prompts of --prompt tokens prefilled, then
// --gen steps in which every sequence gets one token; aggregate decode tokens/s = B x gen / decode
// seconds, and the time per output token of each sequence = decode seconds / gen.
//   build/bench/batch_decode --model DIR [--threads 2] [--batch 1,2,4,8,16,32,64] [--prompt 128] [--gen 128]
//                            [--batch-invariant on|off|both] [--decode-rows f32|bf16|both] [--weights auto|q8|both]
//                            [--json out.json]
#include <CLI/CLI.hpp>

#include <random>

#include "bench_util.hpp"
#include "engine/loaded_model.hpp"
#include "engine/sampler.hpp"
#include "engine/threads.hpp"
#include "kernels/dispatch.hpp"

namespace qwen3 {
namespace {

struct Row {
  std::int64_t batch = 0;
  bool invariant = true;
  double prefill_tokens_per_s = 0, decode_tokens_per_s = 0, tpot_ms = 0;
};

Row run_batch(Qwen3Model& m, std::int64_t batch, std::int64_t prompt, std::int64_t gen, bool invariant) {
  m.set_batch_invariant(invariant);
  const std::int64_t vocab = m.vocab_range().size();
  std::mt19937 rng(static_cast<unsigned>(batch));
  std::vector<KvCache> caches;
  std::vector<std::vector<std::int32_t>> tokens(static_cast<std::size_t>(batch)), positions(tokens.size());
  std::vector<std::vector<float>> logits(tokens.size(), std::vector<float>(static_cast<std::size_t>(vocab)));
  for (std::int64_t b = 0; b < batch; ++b) {
    caches.push_back(m.new_cache(KvType::BF16, 64, prompt + gen));
    auto& t = tokens[static_cast<std::size_t>(b)];
    for (std::int64_t i = 0; i < prompt; ++i) t.push_back(static_cast<std::int32_t>(rng() % static_cast<unsigned>(m.config().vocab_size)));
    for (std::int64_t i = 0; i < prompt; ++i) positions[static_cast<std::size_t>(b)].push_back(static_cast<std::int32_t>(i));
  }
  const auto step = [&] {
    std::vector<SequenceStep> steps;
    for (std::size_t b = 0; b < tokens.size(); ++b) steps.push_back({tokens[b], positions[b], &caches[b], 1, logits[b].data()});
    m.forward(steps);
    for (std::size_t b = 0; b < tokens.size(); ++b) {  // greedy: the next token of each
      const std::int32_t next = argmax(logits[b]);
      const std::int32_t pos = positions[b].back() + 1;
      tokens[b] = {next % static_cast<std::int32_t>(m.config().vocab_size)};
      positions[b] = {pos};
    }
  };
  Row r{batch, invariant};
  const auto t0 = std::chrono::steady_clock::now();
  step();  // the prompts, all in one step (as a token budget of B x prompt would)
  const auto t1 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < gen; ++i) step();
  const auto t2 = std::chrono::steady_clock::now();
  const double prefill_s = std::chrono::duration<double>(t1 - t0).count(), decode_s = std::chrono::duration<double>(t2 - t1).count();
  r.prefill_tokens_per_s = static_cast<double>(batch * prompt) / prefill_s;
  r.decode_tokens_per_s = static_cast<double>(batch * gen) / decode_s;
  r.tpot_ms = 1000.0 * decode_s / static_cast<double>(gen);
  return r;
}

}  // namespace
}  // namespace qwen3

int main(int argc, char** argv) {
  using namespace qwen3;
  CLI::App app{"decode throughput of B sequences in one step"};
  std::string model_dir, json_path, invariant = "on", decode_rows = "f32", weights = "auto";
  int threads = 2;
  std::vector<std::int64_t> batches = {1, 2, 4, 8, 16, 32, 64};
  std::int64_t prompt = 128, gen = 128;
  app.add_option("--model", model_dir)->required();
  app.add_option("--threads", threads);
  app.add_option("--batch", batches)->delimiter(',');
  app.add_option("--prompt", prompt);
  app.add_option("--gen", gen);
  app.add_option("--batch-invariant", invariant)->check(CLI::IsMember({"on", "off", "both"}));
  app.add_option("--decode-rows", decode_rows, "f32 | bf16 | int8 | both (f32 and the other kind the weights have; see qwen3_mpi --decode-rows)")
      ->check(CLI::IsMember({"f32", "bf16", "int8", "both"}));
  app.add_option("--weights", weights, "auto | q8 | both (see qwen3_mpi --weights; q8 runs with f32 decode rows only)")
      ->check(CLI::IsMember({"auto", "q8", "both"}));
  app.add_option("--json", json_path);
  CLI11_PARSE(app, argc, argv);
  try {
    set_thread_count(threads);
    const auto cpu = kernels::detect_cpu_features();
    std::printf("batch_decode: %s | %s | threads %d | prompt %lld, gen %lld per sequence\n", model_dir.c_str(),
                bench::cpu_name().c_str(), threads, static_cast<long long>(prompt), static_cast<long long>(gen));
    std::printf("%6s %8s %10s %12s %14s %14s %10s\n", "B", "weights", "invariant", "decode rows", "prefill t/s", "decode t/s", "TPOT ms");
    nlohmann::json out = nlohmann::json::array();
    for (const std::string format : {"auto", "q8"})
    for (const std::string rows : {"f32", "bf16", "int8"}) {
      if (weights != "both" && weights != format) continue;
      if (decode_rows != "both" && decode_rows != rows) continue;
      if ((format == "q8" && rows == "bf16") || (format != "q8" && rows == "int8")) continue;  // rows of the other weights
      const kernels::KernelTable& kt = kernels::select_kernels("auto", "onednn", rows, cpu);
      // (int8 rows exist on every level; bf16 rows only where the CPU has AVX512-BF16)
      if (rows == "bf16" && !kt.matmul_bf16) {
        std::printf("(no bf16 decode rows here: %s)\n", cpu.describe().c_str());
        continue;
      }
      // The huge-page copy, as qwen3_mpi runs (from the file mapping's 4 KiB pages decode is slower).
      LoadedModel lm = load_model(model_dir, kt, AttentionKind::Streaming, WeightPlacement::Copy, nullptr, parse_weight_format(format));
      const std::string isa = kernels::describe_kernels(kt, lm.model->weights().body_dtype());
      const std::string dtype = describe_weight_dtypes(lm.model->weights());
      for (std::int64_t b : batches)
        for (bool inv : {true, false}) {
          if ((inv && invariant == "off") || (!inv && invariant == "on")) continue;
          const Row r = run_batch(*lm.model, b, prompt, gen, inv);
          std::printf("%6lld %8s %10s %12s %14.1f %14.2f %10.1f\n", static_cast<long long>(b), format.c_str(), inv ? "on" : "off", rows.c_str(),
                      r.prefill_tokens_per_s, r.decode_tokens_per_s, r.tpot_ms);
          std::fflush(stdout);
          out.push_back({{"batch", b}, {"batch_invariant", inv}, {"decode_rows", rows}, {"prefill_tokens_per_s", r.prefill_tokens_per_s},
                         {"decode_tokens_per_s", r.decode_tokens_per_s}, {"tpot_ms", r.tpot_ms}, {"threads", threads},
                         {"prompt", prompt}, {"gen", gen}, {"cpu", bench::cpu_name()}, {"isa", isa},
                         {"weights", format}, {"weight_dtypes", dtype}});
        }
    }
    if (!json_path.empty()) bench::write_json(json_path, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "batch_decode: %s\n", e.what());
    return 1;
  }
  return 0;
}
