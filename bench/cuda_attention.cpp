// bench/cuda_attention: attention time per decode token at depth D, on the GPU (cuda/, the kernel
// --device cuda runs) against our CPU streaming path on the same machine: one query token of a
// Qwen3 attention shape against D cached tokens of bf16 KV in blocks of 64, median of --reps calls of
// one layer, times the model's layers. PyTorch's scaled_dot_product_attention on the same GPU:
// bench/torch_sdpa.py, the same shapes and depths.
//   build/bench/cuda_attention [--shape 0.6b,8b] [--depth 4096,32768,131072] [--reps 20] [--threads N] [--json out.json]
// Without a CUDA device it says why and times the CPU alone.
#include <CLI/CLI.hpp>

#include <cmath>
#include <numeric>
#include <random>

#include "attention/attention.hpp"
#include "bench_util.hpp"
#include "cuda/cuda_sdpa.hpp"
#include "engine/threads.hpp"
#include "kernels/dispatch.hpp"

namespace qwen3 {
namespace {

struct Shape {
  std::string name;
  std::int64_t layers, heads, kv_heads, head_dim;
};

const Shape kShapes[] = {{"0.6b", 28, 16, 8, 128}, {"8b", 36, 32, 8, 128}};
constexpr std::int64_t kBlock = 64;

// One layer's cache of `depth` tokens (random bf16 K/V) and one query at position `depth`.
struct Problem {
  KvCache cache;
  std::vector<float> q;
  std::vector<std::int32_t> position;
  Problem(const Shape& s, std::int64_t depth) : cache(KvCacheShape{1, s.kv_heads, s.head_dim, kBlock, KvType::BF16}, depth + 1) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    std::vector<float> k(static_cast<std::size_t>(kBlock * s.kv_heads * s.head_dim)), v(k.size());
    for (std::int64_t t = 0; t < depth; t += kBlock) {
      const std::int64_t n = std::min(kBlock, depth - t);
      std::vector<std::int32_t> pos(static_cast<std::size_t>(n));
      std::iota(pos.begin(), pos.end(), static_cast<std::int32_t>(t));
      for (float& x : k) x = normal(rng);
      for (float& x : v) x = normal(rng);
      cache.store(0, cache.append(pos), k.data(), v.data());
    }
    q.resize(static_cast<std::size_t>(s.heads * s.head_dim));
    for (float& x : q) x = normal(rng);
    position = {static_cast<std::int32_t>(depth)};
  }
};

double cpu_seconds(const Shape& s, Problem& pr, int reps) {
  std::vector<float> states(static_cast<std::size_t>(s.heads * (s.head_dim + 2)));
  AttentionProblem p;
  p.kernels = &kernels::select_kernels(kernels::KernelChoice::Auto, kernels::detect_cpu_features());
  p.n_heads = s.heads;
  p.n_kv_heads = s.kv_heads;
  p.head_dim = s.head_dim;
  p.scale = 1.f / std::sqrt(static_cast<float>(s.head_dim));
  p.q = pr.q.data();
  p.positions = pr.position;
  p.cache = &pr.cache;
  p.states = states.data();
  return bench::time_median(reps, [&] { streaming_attention(p); });
}

// The same blocks copied to the device as DeviceAttention holds them; the kernel timed with its sync.
double gpu_seconds(const Shape& s, Problem& pr, int reps) {
  std::vector<cuda::DeviceBuffer> kv, positions;
  std::vector<cuda::DeviceKvBlock> table;
  for (const auto& b : pr.cache.blocks()) {
    const std::size_t bytes = static_cast<std::size_t>(2 * s.kv_heads * b->capacity() * s.head_dim) * sizeof(std::uint16_t);
    kv.emplace_back(bytes).upload(b->keys(0, 0).data, bytes);
    positions.emplace_back(b->positions().size_bytes()).upload(b->positions().data(), b->positions().size_bytes());
    const auto* keys = static_cast<const std::byte*>(kv.back().data());
    table.push_back({keys, keys + bytes / 2, static_cast<const std::int32_t*>(positions.back().data()), static_cast<std::int32_t>(b->size()),
                     static_cast<std::int32_t>(b->capacity())});
  }
  cuda::DeviceBuffer blocks(table.size() * sizeof(cuda::DeviceKvBlock)), q(pr.q.size() * sizeof(float)), pos(sizeof(std::int32_t)),
      states(static_cast<std::size_t>(s.heads * (s.head_dim + 2)) * sizeof(float));
  blocks.upload(table.data(), table.size() * sizeof(cuda::DeviceKvBlock));
  q.upload(pr.q.data(), pr.q.size() * sizeof(float));
  pos.upload(pr.position.data(), sizeof(std::int32_t));
  cuda::DeviceAttentionProblem d;
  d.n_heads = static_cast<std::int32_t>(s.heads);
  d.n_kv_heads = static_cast<std::int32_t>(s.kv_heads);
  d.head_dim = static_cast<std::int32_t>(s.head_dim);
  d.scale = 1.f / std::sqrt(static_cast<float>(s.head_dim));
  d.kv_element = cuda::KvElement::BF16;
  d.n_tokens = 1;
  d.q = static_cast<const float*>(q.data());
  d.positions = static_cast<const std::int32_t*>(pos.data());
  d.blocks = static_cast<const cuda::DeviceKvBlock*>(blocks.data());
  d.n_blocks = static_cast<std::int32_t>(table.size());
  d.states = static_cast<float*>(states.data());
  cuda::AttentionWorkspace workspace;
  return bench::time_median(reps, [&] { cuda::attend(d, workspace); });
}

}  // namespace
}  // namespace qwen3

int main(int argc, char** argv) {
  using namespace qwen3;
  CLI::App app{"decode attention per token: GPU kernel against the CPU streaming path"};
  std::vector<std::string> shapes = {"0.6b", "8b"};
  std::vector<std::int64_t> depths = {4096, 32768, 131072};
  int reps = 20, threads = 0;
  std::string json_path;
  app.add_option("--shape", shapes, "0.6b (Qwen3-0.6B attention), 8b (Qwen3-8B)")->delimiter(',');
  app.add_option("--depth", depths)->delimiter(',');
  app.add_option("--reps", reps);
  app.add_option("--threads", threads, "CPU threads (0: all this process may use)");
  app.add_option("--json", json_path);
  CLI11_PARSE(app, argc, argv);
  try {
    const ThreadCount granted = set_thread_count(threads);
    const cuda::DeviceProbe probe = cuda::probe_devices();
    std::string device = "no GPU: " + probe.why_none;
    if (probe.count > 0) device = cuda::use_device(0).name;
    std::printf("cuda_attention: %s | %s, %d threads | bf16 KV, blocks of %lld\n%6s %8s %8s %16s %16s %8s\n", device.c_str(),
                bench::cpu_name().c_str(), granted.granted, static_cast<long long>(kBlock), "shape", "layers", "depth", "GPU ms/token",
                "CPU ms/token", "CPU/GPU");
    nlohmann::json out = nlohmann::json::array();
    for (const Shape& s : kShapes) {
      if (std::find(shapes.begin(), shapes.end(), s.name) == shapes.end()) continue;
      for (std::int64_t depth : depths) {
        Problem pr(s, depth);
        const double cpu = cpu_seconds(s, pr, reps) * static_cast<double>(s.layers);
        const double gpu = probe.count > 0 ? gpu_seconds(s, pr, reps) * static_cast<double>(s.layers) : std::nan("");
        std::printf("%6s %8lld %8lld %16.3f %16.3f %8.2f\n", s.name.c_str(), static_cast<long long>(s.layers), static_cast<long long>(depth),
                    1e3 * gpu, 1e3 * cpu, cpu / gpu);
        std::fflush(stdout);
        out.push_back({{"shape", s.name}, {"layers", s.layers}, {"heads", s.heads}, {"kv_heads", s.kv_heads}, {"head_dim", s.head_dim},
                       {"depth", depth}, {"gpu_ms_per_token", probe.count > 0 ? nlohmann::json(1e3 * gpu) : nlohmann::json(nullptr)},
                       {"cpu_ms_per_token", 1e3 * cpu}, {"device", device}, {"cpu", bench::cpu_name()}, {"threads", granted.granted}});
      }
    }
    if (!json_path.empty()) bench::write_json(json_path, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_attention: %s\n", e.what());
    return 1;
  }
  return 0;
}
