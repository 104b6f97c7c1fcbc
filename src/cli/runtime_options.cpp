#include "cli/runtime_options.hpp"

#include <charconv>
#include <string>

namespace qwen3::cli {

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

namespace {

// KV cache eviction (README, "Endless streams"): a bounded policy runs past -c in constant memory.
void add_kv_policy_options(CLI::App& a, KvPolicyFlags& kv) {
  a.add_option("--kv-policy", kv.kind, "KV cache eviction: full (none, bounded by -c), sink-window (StreamingLLM: --sink first tokens + --window recent), window (recent only), l2 (lowest key norms), h2o (--heavy most attended + --window recent), random")
      ->check(CLI::IsMember({"full", "sink-window", "window", "l2", "h2o", "random"}))->capture_default_str();
  a.add_option("--sink", kv.sink, "Attention sinks kept (default: 4 for sink-window, 0 for l2, h2o and random)")->check(int_range(0, std::int64_t{1} << 20));
  a.add_option("--window", kv.window, "Recent tokens kept by sink-window, window and h2o (l2, random: the rest of the budget)")
      ->check(int_range(1, std::int64_t{1} << 24))->capture_default_str();
  a.add_option("--heavy", kv.heavy, "h2o: tokens kept for the attention they received, beside --window (default: = --window)")
      ->check(int_range(0, std::int64_t{1} << 24));
  a.add_option("--evict-chunk", kv.evict_chunk, "Evict at least this many tokens at once when the budget is exceeded")
      ->check(int_range(1, std::int64_t{1} << 24))->capture_default_str();
}

}  // namespace

void add_runtime_options(CLI::App& a, RuntimeOptions& o, const std::string& seed_help) {
  a.add_option("-m,--model", o.model_dir, "Hugging Face Qwen3 checkpoint directory (default: the model shipped in models/)");
  a.add_option("-t,--threads", o.threads, "Threads (default: OMP_NUM_THREADS if set, else the cores this process may use)")->check(int_range(0, 4096));
  a.add_option("--attention", o.attention, "Attention path")->check(CLI::IsMember({"standard", "streaming"}))->capture_default_str();
  a.add_option("--kernel", o.kernel, "Kernel variant")->check(CLI::IsMember({"auto", "scalar", "avx2", "avx512"}))->capture_default_str();
  a.add_option("--gemm", o.gemm, "Prefill matrix products: onednn (the path its start-up probe finds: bf16 matmul on AMX/AVX-512, else f32 on widened weight tiles; the load line names it) or native (our f32 tiles)")
      ->check(CLI::IsMember({"onednn", "native"}))->capture_default_str();
  a.add_option("--decode-rows", o.decode_rows,
               "Activations of decode products: f32 (kept in f32; every rank layout samples the same tokens), bf16 (bf16 weights: "
               "activations rounded to bf16, AVX512-BF16 dot products; f32 where the CPU lacks avx512bf16, as the load line says) or "
               "int8 (Q8 weights: activations quantized per token, int8 dot products). bf16 and int8 decode many sequences faster; logits "
               "move by ~1e-2 and other rank layouts may sample other tokens")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))->capture_default_str();
  a.add_option("--weights", o.weights,
               "Matrices in memory: auto (as stored; FP8 checkpoints in 8 bits), bf16 (f32/f16 checkpoints rounded to bf16), or q8 "
               "(int8 in blocks of 32 with f16 scales, quantized at load, embedding and LM head included: about half the bytes of bf16; "
               "activations quantized per token the same way), or q8-body (q8 for the layers, embedding and LM head as stored)")
      ->check(CLI::IsMember({"auto", "bf16", "q8", "q8-body"}))->capture_default_str();
  a.add_option("--kv-type", o.kv_type,
               "KV cache element type (auto: f32 for f32 checkpoints, else bf16; q8: int8 with one scale per token and KV head, half of bf16's bytes)")
      ->check(CLI::IsMember({"auto", "f32", "bf16", "q8"}))->capture_default_str();
  a.add_option("--kv-block", o.kv_block, "Tokens per KV cache block")->check(int_range(1, 4096))->capture_default_str();
  a.add_flag("--mmap", o.use_mmap, "Run from the memory-mapped checkpoint instead of copying weights into huge pages (less memory, slower decode)");
  add_kv_policy_options(a, o.kv);
  a.add_option("--seed", o.seed, seed_help);
  // Under mpirun/srun: N ranks = tp x sp (README, "Running on several ranks").
  a.add_option("--tp", o.tp, "Rank groups splitting the KV heads (must divide them; default: the largest that divides both the KV heads and the rank count)")
      ->check(int_range(1, 1 << 20));
  a.add_option("--sp", o.sp, "Ranks per group splitting the KV blocks (default: ranks / tp)")->check(int_range(1, 1 << 20));
  a.add_option("--expert-split", o.expert_split,
               "Mixture-of-experts models on several ranks: whole (whole experts per rank), rows (every expert's rows over all ranks), "
               "auto (rows, in groups of ranks that keep each rank at least 128 rows of an expert)")
      ->check(CLI::IsMember({"auto", "whole", "rows"}))->capture_default_str();
  a.add_option("--device", o.device,
               "Where attention runs: cpu; auto (a GPU where this rank sees one: local rank i takes device i mod count, KV blocks in its "
               "memory; else the CPU, with a note saying why); or cuda (a GPU, or one line and exit). cpu is the default until the GPU "
               "kernel has passed its checks on a GPU (cuda/README.md)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))->capture_default_str();
  // NUMA domains inside this process (README, "NUMA domains").
  a.add_option("--numa", o.numa, "auto: one thread team and one share of the model per NUMA domain this process spans (one domain: as off); off: one team")
      ->check(CLI::IsMember({"auto", "off"}))->capture_default_str();
}

void finish_runtime_options(const CLI::App& command, RuntimeOptions& o) { o.seed_given = command.count("--seed") > 0; }

}  // namespace qwen3::cli
