#pragma once
// Prefill matrix products through oneDNN (AMX or AVX512-BF16 where the CPU has them).
// Why: prefill is compute bound, and oneDNN's bf16 brgemm on AMX outruns our f32 FMA tiles. bf16
// weights multiply bf16-rounded activations (as PyTorch bf16 inference and llama.cpp do), which moves
// results by ~1e-2 relative; decode (one token) never comes here and keeps f32 activations.
#include <cstdint>

#include "kernels/kernels.hpp"

namespace qwen3::kernels {

// y[t][r] = W[r, :] . x[t, :] for all rows and n_tokens tokens (threads: oneDNN's OpenMP team).
// Returns false (and does nothing) for dtypes it does not handle (f16), so the caller falls back.
bool onednn_gemm(const MatrixView& w, const float* x, std::int64_t n_tokens, float* y);

}  // namespace qwen3::kernels
