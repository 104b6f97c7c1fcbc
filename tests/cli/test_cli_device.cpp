// --device: where attention runs. Each test checks what this machine should do: with a CUDA device,
// the GPU runs attention and the ids are transformers'; without one, auto runs on the CPU and says so,
// and cuda is refused in one line. The GPU-only comparisons skip with "requires cuda: ...".
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "cli_fixtures.hpp"
#include "cli_runner.hpp"
#include "cuda/cuda_sdpa.hpp"

namespace qwen3::test::cli {
namespace {

RunResult run_args(const Args& args) {
  Command c;
  c.argv = Args{kQwen3Mpi} + args;
  c.timeout = std::chrono::seconds(60);
  return run(c);
}

Ids ids_of(const RunResult& r) { return nlohmann::json::parse(r.out).get<Ids>(); }

bool has_device() { return cuda::probe_devices().count > 0; }

// Property: --device auto gives transformers' ids wherever it runs, and the load line names where
// attention ran: on cuda:N with the device and its KV pool where there is a GPU, else on cpu, after a
// note that says why.
TEST(CliDevice, AutoRunsWhereTheLoadLineSays) {
  const RunResult r = run_args(verify_gqa4(8) + Args{"-t", "1", "--kv-block", "4", "--device", "auto"});
  ASSERT_TRUE(r.exited() && r.exit_code == 0) << r.describe();
  EXPECT_EQ(ids_of(r), kGqa4GreedyIds) << r.describe();
  const std::regex where(has_device() ? R"(\| attention streaming on cuda:[0-9]+ \([^)]*, KV pool [0-9.]+ [KMG]iB\) \|)"
                                      : R"(\| attention streaming on cpu \|)");
  EXPECT_TRUE(std::regex_search(r.err, where)) << r.describe();
  if (!has_device()) {
    EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(note: --device auto: attention runs on the CPU: (no CUDA device|built without CUDA) \()")))
        << r.describe();
  }
}

// Property: --device cuda runs attention on the GPU with transformers' ids where there is one, and
// where there is none ends with one line that says why, before any output.
TEST(CliDevice, CudaRunsOnTheGpuOrSaysWhyNot) {
  const RunResult r = run_args(verify_gqa4(8) + Args{"-t", "1", "--kv-block", "4", "--device", "cuda"});
  ASSERT_TRUE(r.exited()) << r.describe();
  if (has_device()) {
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(ids_of(r), kGqa4GreedyIds) << r.describe();
  } else {
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_TRUE(r.out.empty()) << r.describe();
    EXPECT_TRUE(std::regex_match(r.err, std::regex(R"(qwen3_mpi: error: --device cuda: (no CUDA device|built without CUDA) \([^\n]*\)\n)")))
        << r.describe();
  }
}

// Property: on the GPU, every kind of fixture gives transformers' greedy ids: GQA and MHA with tied
// embeddings, a bf16 KV cache, a mixture of experts, and StreamingLLM sinks over a cache that slides.
TEST(CliDevice, FixturesGiveTransformersIdsOnTheGpu) {
  const cuda::DeviceProbe probe = cuda::probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "requires cuda: " << probe.why_none;
  const std::pair<Args, Ids> cases[] = {
      {verify_gqa4(8), kGqa4GreedyIds},
      {verify_mha(8), kMhaGreedyIds},
      {verify_gqa4(8) + Args{"--kv-type", "bf16"}, kGqa4GreedyIds},
      {verify_gqa4(8, kMoe), Ids{68, 43, 68, 43, 17, 206, 303, 235}},
  };
  for (const auto& [args, want] : cases) {
    const RunResult r = run_args(args + Args{"-t", "1", "--kv-block", "4", "--device", "cuda"});
    ASSERT_TRUE(r.exited() && r.exit_code == 0) << r.describe();
    EXPECT_EQ(ids_of(r), want) << r.describe();
  }
  // Eviction on the GPU equals the CPU's: the same ids with a sliding sink-window cache.
  const Args sliding = verify_gqa4(24) + Args{"-t", "1", "--kv-block", "4", "--kv-policy", "sink-window", "--sink", "4", "--window", "28"};
  const RunResult gpu = run_args(sliding + Args{"--device", "cuda"}), cpu = run_args(sliding + Args{"--device", "cpu"});
  ASSERT_TRUE(gpu.exited() && gpu.exit_code == 0 && cpu.exited() && cpu.exit_code == 0) << gpu.describe() << cpu.describe();
  EXPECT_EQ(ids_of(gpu), ids_of(cpu));
}

// Property: what the GPU kernel does not run (the standard path, a q8 KV cache, the h2o policy) is one
// line and exit with --device cuda, and with --device auto runs on the CPU with a note that says why.
TEST(CliDevice, WhatTheGpuDoesNotRunIsRefusedOrNoted) {
  const cuda::DeviceProbe probe = cuda::probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "requires cuda: " << probe.why_none;
  const Args cpu_only[] = {{"--attention", "standard"}, {"--kv-type", "q8"}, {"--kv-policy", "h2o", "--window", "28"}};
  for (const Args& extra : cpu_only) {
    const Args args = verify_gqa4(8) + Args{"-t", "1", "--kv-block", "4"} + extra;
    const RunResult insisted = run_args(args + Args{"--device", "cuda"});
    ASSERT_TRUE(insisted.exited()) << insisted.describe();
    EXPECT_EQ(insisted.exit_code, 1) << insisted.describe();
    EXPECT_TRUE(std::regex_match(insisted.err, std::regex(R"(qwen3_mpi: error: --device cuda: [^\n]+\n)"))) << insisted.describe();
    const RunResult automatic = run_args(args + Args{"--device", "auto"});
    ASSERT_TRUE(automatic.exited() && automatic.exit_code == 0) << automatic.describe();
    EXPECT_NE(automatic.err.find("note: --device auto: attention runs on the CPU: "), std::string::npos) << automatic.describe();
    EXPECT_NE(automatic.err.find(" on cpu |"), std::string::npos) << automatic.describe();
  }
}

}  // namespace
}  // namespace qwen3::test::cli
