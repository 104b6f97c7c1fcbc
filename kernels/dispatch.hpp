#pragma once
// The one place where a kernel variant is chosen.
#include <string_view>

#include "kernels/cpu_features.hpp"
#include "kernels/kernels.hpp"

namespace qwen3::kernels {

enum class KernelChoice { Auto, Scalar, Avx2, Avx512 };

// Parses "auto|scalar|avx2|avx512"; throws qwen3::Error on anything else.
KernelChoice parse_kernel_choice(std::string_view name);

// Auto picks the widest variant the CPU and OS support. Forcing a variant the CPU lacks throws
// qwen3::Error ("--kernel avx512: this CPU lacks avx512f") instead of dying with SIGILL.
const KernelTable& select_kernels(KernelChoice choice, const CpuFeatures& cpu);

// The same variant with the oneDNN gemm for prefill (bf16 weights then multiply bf16-rounded
// activations; see kernels/onednn/gemm.hpp). The scalar reference never gets one.
const KernelTable& with_onednn_gemm(const KernelTable& base);

// What --kernel NAME --gemm onednn|native ask for: select_kernels(parse_kernel_choice(NAME)), with the
// oneDNN gemm when gemm is "onednn".
const KernelTable& select_kernels(std::string_view kernel, std::string_view gemm, const CpuFeatures& cpu);

}  // namespace qwen3::kernels
