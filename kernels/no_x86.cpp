// Non-x86 builds: only the scalar kernels exist.
#include "kernels/kernels.hpp"

namespace qwen3::kernels {
const KernelTable* avx2_kernels() { return nullptr; }
const KernelTable* avx512_kernels() { return nullptr; }
MatmulBf16 avx512_bf16_matmul() { return nullptr; }
MatmulQ8 avx2_q8_matmul() { return nullptr; }
DequantizeQ8Bf16 avx512_bf16_dequantize_q8() { return nullptr; }
MatmulQ8 avx512_vnni_q8_matmul() { return nullptr; }
}  // namespace qwen3::kernels
