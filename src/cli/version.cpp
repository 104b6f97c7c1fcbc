#include <string>

#include "cli/commands.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/dispatch.hpp"

#ifndef QWEN3_VERSION
#define QWEN3_VERSION "unknown"
#endif
#ifndef QWEN3_BUILD_TYPE
#define QWEN3_BUILD_TYPE "unknown"
#endif

namespace qwen3::cli {

std::string version_text() {
  const kernels::CpuFeatures cpu = kernels::detect_cpu_features();
  const auto& auto_kernels = kernels::select_kernels(kernels::KernelChoice::Auto, cpu);
  std::string s = "qwen3_mpi " QWEN3_VERSION " (" QWEN3_BUILD_TYPE " build, " __VERSION__ ", C++20, OpenMP";
  s += ")\ncpu features: " + cpu.describe();
  s += "\nkernels: " + std::string(kernels::isa_name(auto_kernels.isa)) + " (auto)";
  return s;
}

}  // namespace qwen3::cli
