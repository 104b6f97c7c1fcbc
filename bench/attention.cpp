// bench/attention: standard vs streaming attention, per kernel variant and KV type, for one layer of
// Qwen3-0.6B's attention shape (16 query heads, 8 KV heads, head_dim 128) over context lengths
// 128 ... 32768. Decode = one query against L cached tokens (reports KV GB/s); prefill = L causal
// queries (reports GFLOP/s; capped by --max-prefill because it is O(L^2)).
//   build/bench/attention [--threads N] [--max-len 32768] [--max-prefill 4096] [--json out.json]
//                         [--kernel avx2] [--kv-type bf16] [--path streaming]   (one row family only)
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attention/attention.hpp"
#include "bench_util.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/dispatch.hpp"

namespace qwen3 {
namespace {

struct Shape {
  std::int64_t n_heads = 16, n_kv = 8, d = 128;
};

std::vector<float> noise(std::size_t n, unsigned seed) {
  std::vector<float> v(n);
  unsigned x = seed * 2654435761u + 1;
  for (float& f : v) {
    x = x * 1664525u + 1013904223u;
    f = static_cast<float>(static_cast<int>(x >> 9) % 2001 - 1000) / 1000.f;
  }
  return v;
}

// Decode reads the cache of every layer in turn, so each layer's KV comes from memory, not from a
// cache level that a one-layer loop would keep warm. The cache therefore has the model's 28 layers
// (a block is then 28 x 256 KiB and sits in huge pages, as in the runtime), and a decode rep sweeps
// as many layers as fit in ~512 MB; the time reported is per layer.
double run_one(const kernels::KernelTable& k, AttentionKind kind, KvType kv, std::int64_t len, bool prefill, int reps) {
  const Shape s;
  constexpr std::int64_t kModelLayers = 28;
  const double layer_bytes = 2.0 * static_cast<double>(len * s.n_kv) * static_cast<double>(kv_row_bytes(kv, s.d));
  const std::int64_t sweep = prefill ? 1 : std::clamp<std::int64_t>(static_cast<std::int64_t>(512e6 / layer_bytes), 1, kModelLayers);
  KvCache cache(KvCacheShape{kModelLayers, s.n_kv, s.d, 64, kv}, len);
  std::vector<std::int32_t> pos(static_cast<std::size_t>(len));
  std::iota(pos.begin(), pos.end(), 0);
  const auto slots = cache.append(pos);
  const auto kvv = noise(static_cast<std::size_t>(len * s.n_kv * s.d), 1);
  for (std::int64_t layer = 0; layer < sweep; ++layer) cache.store(layer, slots, kvv.data(), kvv.data());
  const std::int64_t nq = prefill ? len : 1;
  const auto q = noise(static_cast<std::size_t>(nq * s.n_heads * s.d), 2);
  std::vector<float> out(q.size());
  std::vector<std::int32_t> qpos(pos.end() - nq, pos.end());
  const double secs = bench::time_median(reps, [&] {
    for (std::int64_t layer = 0; layer < sweep; ++layer) {
      AttentionProblem p{&k, s.n_heads, s.n_kv, s.d, 1.f / std::sqrt(static_cast<float>(s.d)), q.data(), qpos, &cache, layer, out.data()};
      attention(kind, p);
    }
  });
  return secs / static_cast<double>(sweep);
}

}  // namespace
}  // namespace qwen3

int main(int argc, char** argv) {
  using namespace qwen3;
  CLI::App app{"Attention benchmark: standard vs streaming, per kernel variant"};
  int threads = 0;
  std::int64_t max_len = 32768, max_prefill = 4096, max_scalar = 4096;
  std::string json_path, only_kernel, only_kv, only_path;
  app.add_option("--threads", threads, "threads (default: all)");
  app.add_option("--kernel", only_kernel, "only this variant: scalar|avx2|avx512 (default: every one the CPU has)");
  app.add_option("--kv-type", only_kv, "only this KV type: f32|bf16|q8 (default: all)");
  app.add_option("--path", only_path, "only this attention path: standard|streaming (default: both)");
  app.add_option("--max-len", max_len, "longest context for decode");
  app.add_option("--max-prefill", max_prefill, "longest context for prefill (O(L^2))");
  app.add_option("--max-scalar", max_scalar, "longest context for the scalar variant");
  app.add_option("--json", json_path, "write results as JSON");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) omp_set_num_threads(threads);
  const kernels::CpuFeatures cpu = kernels::detect_cpu_features();
  std::vector<const kernels::KernelTable*> tables{&kernels::scalar_kernels()};
  if (cpu.has_avx2_set()) tables.push_back(&kernels::select_kernels(kernels::KernelChoice::Avx2, cpu));
  if (cpu.has_avx512_set()) tables.push_back(&kernels::select_kernels(kernels::KernelChoice::Avx512, cpu));

  std::printf("attention, Qwen3-0.6B layer shape (16 q heads, 8 kv heads, head_dim 128), %d threads, cpu: %s\n",
              omp_get_max_threads(), cpu.describe().c_str());
  std::printf("%-8s %-7s %-9s %-5s %7s %12s %12s\n", "mode", "kernel", "path", "kv", "len", "median_ms", "GB/s|GFLOP/s");
  nlohmann::json rows = nlohmann::json::array();
  for (bool prefill : {false, true}) {
    for (std::int64_t len = 128; len <= (prefill ? max_prefill : max_len); len *= 2) {
      for (const auto* k : tables) {
        if (k->isa == kernels::Isa::Scalar && len > (prefill ? max_scalar / 4 : max_scalar)) continue;
        if (!only_kernel.empty() && kernels::isa_name(k->isa) != only_kernel) continue;
        for (KvType kv : {KvType::BF16, KvType::F32, KvType::Q8}) {
          if (!only_kv.empty() && kernels::kv_type_name(kv) != only_kv) continue;
          for (AttentionKind kind : {AttentionKind::Standard, AttentionKind::Streaming}) {
            if (!only_path.empty() && attention_kind_name(kind) != only_path) continue;
            const int reps = len >= 8192 || prefill ? 3 : 11;
            const double secs = run_one(*k, kind, kv, len, prefill, reps);
            const double kv_bytes = 2.0 * static_cast<double>(len) * 8 * static_cast<double>(kv_row_bytes(kv, 128));
            // Causal prefill: each of L queries x 16 heads sees on average L/2 keys; 4*d flops per key.
            const double flops = prefill ? 4.0 * 128 * 16 * static_cast<double>(len) * static_cast<double>(len + 1) / 2
                                         : 4.0 * 128 * 16 * static_cast<double>(len);
            const double rate = prefill ? flops / secs / 1e9 : kv_bytes / secs / 1e9;
            const std::string kv_name(kernels::kv_type_name(kv));
            std::printf("%-8s %-7s %-9s %-5s %7lld %12.3f %12.2f\n", prefill ? "prefill" : "decode",
                        std::string(kernels::isa_name(k->isa)).c_str(), std::string(attention_kind_name(kind)).c_str(), kv_name.c_str(),
                        static_cast<long long>(len), secs * 1e3, rate);
            std::fflush(stdout);
            rows.push_back({{"mode", prefill ? "prefill" : "decode"},
                            {"kernel", kernels::isa_name(k->isa)},
                            {"path", attention_kind_name(kind)},
                            {"kv_type", kv_name},
                            {"len", len},
                            {"median_ms", secs * 1e3},
                            {prefill ? "gflops" : "kv_gbs", rate}});
          }
        }
      }
    }
  }
  bench::write_json(json_path, {{"benchmark", "attention"}, {"threads", omp_get_max_threads()}, {"cpu", cpu.describe()}, {"rows", rows}});
  return 0;
}
