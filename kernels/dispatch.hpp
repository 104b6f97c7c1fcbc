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

// The same variant whose row products of bf16 weights (decode) multiply bf16-rounded activations
// with AVX512-BF16 dot products (KernelTable::matmul_bf16), or `base` itself where that is not the
// AVX-512 variant or the CPU lacks the instruction. Opt-in (--decode-rows bf16), not the default:
// rounding activations turns the last-bit differences of column-split products on other rank layouts
// into bf16-ulp ones, so one process and N ranks no longer sample the same tokens.
const KernelTable& with_bf16_rows(const KernelTable& base);

// The same variant whose row products of Q8 weights (decode) multiply int8-quantized activations
// (W8A8, KernelTable::matmul_q8): vpdpbusd at the avx512 level where the CPU has AVX512-VNNI, else
// vpmaddubsw, the referee at scalar. Opt-in (--decode-rows int8), like bf16 rows: faster for many
// sequences, but rounding activations to 8 bits moves more next-token choices than the weights alone
// do (README, "8-bit weights"), and other rank layouts may then sample other tokens.
const KernelTable& with_int8_rows(const KernelTable& base, const CpuFeatures& cpu);

// The path prefill products of `weights` take with this table, and that path as the load line
// names it, e.g. "onednn f32 on widened tiles (avx2)".
PrefillGemm prefill_gemm(const KernelTable& kt, DType weights);
// The instructions of the table's W8A8 row kernel: "avx512vnni", "avx2", "scalar", or "" (none: Q8
// weights are widened and multiply f32 activations).
std::string_view q8_rows_name(const KernelTable& kt);
// The variant as the load line names it, e.g. "avx512 (decode rows bf16: avx512bf16)", or
// "avx512 (decode rows int8: avx512vnni)" for Q8 weights with --decode-rows int8.
std::string describe_kernels(const KernelTable& kt, DType weights);
std::string describe_prefill_gemm(const KernelTable& kt, DType weights);

// What --kernel NAME --gemm onednn|native --decode-rows f32|bf16|int8 ask for:
// select_kernels(parse_kernel_choice(NAME)), with the oneDNN gemm when gemm is "onednn", bf16 rows
// when decode_rows is "bf16", int8 rows when it is "int8".
const KernelTable& select_kernels(std::string_view kernel, std::string_view gemm, std::string_view decode_rows, const CpuFeatures& cpu);

}  // namespace qwen3::kernels
