// bench/matmul: the decode-critical kernel alone. One token (matrix-vector) through a bf16 weight
// matrix much larger than the caches, per kernel variant and thread count, as GB/s of weights read
// next to the STREAM-style read bandwidth probe. Kernel lab for kernels/x86/simd_kernels.inl.
//   build/bench/matmul [--rows 32768] [--cols 1024] [--threads 1,2] [--json out.json]
#include <CLI/CLI.hpp>

#include "bench_util.hpp"
#include "kernels/convert.hpp"
#include "kernels/dispatch.hpp"
#include "model/ops.hpp"

int main(int argc, char** argv) {
  using namespace qwen3;
  CLI::App app{"matrix-vector kernel bandwidth"};
  std::int64_t rows = 262144, cols = 1024, tokens = 1;
  std::vector<int> thread_counts = {1, 2};
  std::string json_path;
  app.add_option("--rows", rows);
  app.add_option("--cols", cols);
  app.add_option("--tokens", tokens);
  app.add_option("--threads", thread_counts)->delimiter(',');
  app.add_option("--json", json_path);
  CLI11_PARSE(app, argc, argv);
  const auto cpu = kernels::detect_cpu_features();
  PageBuffer w_buf(static_cast<std::size_t>(rows * cols) * 2);
  auto* w16 = reinterpret_cast<std::uint16_t*>(w_buf.data());
#pragma omp parallel for
  for (std::int64_t i = 0; i < rows * cols; ++i) w16[i] = kernels::f32_to_bf16(static_cast<float>(i % 7) * 0.01f);
  const kernels::MatrixView w{w16, DType::BF16, rows, cols, cols};
  std::vector<float> x(static_cast<std::size_t>(cols * tokens), 0.5f), y(static_cast<std::size_t>(rows * tokens));
  // The row kernels ops::linear would pick: f32 products per ISA, and bf16 dot products where the CPU
  // has them (--decode-rows bf16, see kernels/dispatch.hpp).
  std::vector<std::pair<std::string, const kernels::KernelTable*>> variants;
  if (cpu.has_avx2_set()) variants.push_back({"avx2", &kernels::select_kernels(kernels::KernelChoice::Avx2, cpu)});
  if (cpu.has_avx512_set()) {
    const auto& avx512 = kernels::select_kernels(kernels::KernelChoice::Avx512, cpu);
    variants.push_back({"avx512", &avx512});
    const auto& bf16_rows = kernels::with_bf16_rows(avx512);
    if (bf16_rows.matmul_bf16) variants.push_back({"avx512bf16", &bf16_rows});
  }
  std::printf("%-7s %-11s %10s %10s %9s %10s\n", "threads", "kernel", "GB/s", "probe", "fraction", "GMAC/s");
  nlohmann::json out = nlohmann::json::array();
  for (int t : thread_counts) {
    omp_set_num_threads(t);
    const double probe = bench::read_bandwidth_gbs(t);
    for (const auto& [name, k] : variants) {
      const double secs = bench::time_median(7, [&] { ops::linear(*k, w, x.data(), tokens, y.data()); });
      const double gbs = static_cast<double>(rows * cols * 2) / secs / 1e9;
      const double gmacs = static_cast<double>(rows * cols * tokens) / secs / 1e9;
      std::printf("%-7d %-11s %10.2f %10.2f %8.0f%% %10.1f\n", t, name.c_str(), gbs, probe, 100 * gbs / probe, gmacs);
      out.push_back({{"threads", t}, {"kernel", name}, {"gbs", gbs}, {"probe_gbs", probe}, {"gmacs", gmacs}});
    }
  }
  bench::write_json(json_path, {{"benchmark", "matmul"}, {"rows", rows}, {"cols", cols}, {"tokens", tokens}, {"results", out}});
}
