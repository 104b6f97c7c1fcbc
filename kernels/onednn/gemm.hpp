#pragma once
// Prefill matrix products through oneDNN, on whatever its dispatcher can do on this CPU.
// Why: prefill is compute bound, and oneDNN's blocked kernels (bf16 brgemm on AMX or AVX512-BF16,
// f32 jit gemm on AVX2/AVX-512/SSE4.1) outrun our row tiles. What oneDNN can do is found by creating
// primitives once at start-up, never assumed from cpuid: ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA, the
// library version and the CPU all decide it, and an AVX2-only CPU has no bf16 matmul at all.
//
// Numerics: the bf16 path multiplies bf16-rounded activations (as PyTorch bf16 inference and llama.cpp
// do), which moves results by ~1e-2 relative. The f32 paths (f32 weights, or bf16/f16 weights widened
// exactly to f32 a tile at a time) differ from the scalar reference only by summation order. Q8
// weights dequantized to bf16 tiles are rounded once more (2^-9 relative), like the activations.
#include <cstdint>
#include <string>
#include <string_view>

#include "kernels/kernels.hpp"

namespace qwen3::kernels {

// How the prefill products of one weight dtype run.
enum class PrefillGemm {
  Native,              // our own row tiles (KernelTable::matmul)
  OneDnnBf16,          // oneDNN bf16 x bf16 -> f32 matmul (activations rounded to bf16)
  OneDnnF32,           // oneDNN f32 matmul on f32 weights
  OneDnnF32Converted,  // bf16/f16 (or Q8) weights widened to f32 one row tile at a time, oneDNN f32 matmul
  OneDnnBf16Converted, // Q8 weights dequantized to bf16 one row tile at a time, oneDNN bf16 matmul
};
std::string_view prefill_gemm_name(PrefillGemm p);  // "native", "onednn bf16", ...

// What the probe found: one small primitive of each kind created (and run) once per process.
struct OneDnnCapabilities {
  bool f32_matmul = false;
  bool bf16_matmul = false;
  std::string isa;      // the ISA oneDNN dispatches to under its cap, e.g. "avx2", "avx512_core_amx"
  std::string failure;  // why f32_matmul is false (oneDNN's message), else empty
};
const OneDnnCapabilities& onednn_capabilities();

// The path onednn_gemm() takes for weights of this dtype, from the probe (Native: none applies).
PrefillGemm onednn_prefill_path(DType weights);

// y[t][r] = W[r, :] . x[t, :] for all rows and n_tokens tokens (threads: oneDNN's OpenMP team), with
// k.widen_rows for widened tiles. Returns false (and leaves y alone) where no oneDNN path applies; the
// caller then uses its own tiles. A shape oneDNN refuses at run time falls back the same way, with
// one note on stderr per shape.
bool onednn_gemm(const KernelTable& k, const MatrixView& w, const float* x, std::int64_t n_tokens, float* y);

// For tests of the fallback: while on, every shape not yet in the primitive cache is treated as one
// oneDNN refuses (no CPU at hand refuses a shape the probe passed). Per thread, as the cache is.
void onednn_refuse_new_shapes_for_testing(bool on);

}  // namespace qwen3::kernels
