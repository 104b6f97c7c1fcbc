#pragma once
// The one place where a kernel variant is chosen.
#include <string>
#include <string_view>

#include "kernels/cpu_features.hpp"
#include "kernels/kernels.hpp"
#include "kernels/onednn/gemm.hpp"

namespace qwen3::kernels {

enum class KernelChoice { Auto, Scalar, Avx2, Avx512 };

// Parses "auto|scalar|avx2|avx512"; throws qwen3::Error on anything else.
KernelChoice parse_kernel_choice(std::string_view name);

// Auto picks the widest variant the CPU and OS support. Forcing a variant the CPU lacks throws
// qwen3::Error ("--kernel avx512: this CPU lacks avx512f") instead of dying with SIGILL.
const KernelTable& select_kernels(KernelChoice choice, const CpuFeatures& cpu);

// The same variant with the oneDNN gemm for prefill (see kernels/onednn/gemm.hpp for what it does
// with each weight dtype), or `base` itself where the start-up probe found oneDNN unusable.
// scalar_kernels() itself stays gemm-free: it is the tests' referee.
const KernelTable& with_onednn_gemm(const KernelTable& base);

// The path prefill products of `weights` take with this table, and that path as the load line
// names it, e.g. "onednn f32 on widened tiles (avx2)".
PrefillGemm prefill_gemm(const KernelTable& kt, DType weights);
std::string describe_prefill_gemm(const KernelTable& kt, DType weights);

// What --kernel NAME --gemm onednn|native ask for: select_kernels(parse_kernel_choice(NAME)), with the
// oneDNN gemm when gemm is "onednn".
const KernelTable& select_kernels(std::string_view kernel, std::string_view gemm, const CpuFeatures& cpu);

}  // namespace qwen3::kernels
