#include "kernels/dispatch.hpp"

#include <string>

#include "kernels/onednn/gemm.hpp"
#include "qwen3/error.hpp"

namespace qwen3::kernels {

KernelChoice parse_kernel_choice(std::string_view name) {
  if (name == "auto") return KernelChoice::Auto;
  if (name == "scalar") return KernelChoice::Scalar;
  if (name == "avx2") return KernelChoice::Avx2;
  if (name == "avx512") return KernelChoice::Avx512;
  throw Error("--kernel " + std::string(name) + ": expected one of auto, scalar, avx2, avx512");
}

const KernelTable& select_kernels(KernelChoice choice, const CpuFeatures& cpu) {
  const KernelTable* avx512 = cpu.has_avx512_set() ? avx512_kernels() : nullptr;
  const KernelTable* avx2 = cpu.has_avx2_set() ? avx2_kernels() : nullptr;
  switch (choice) {
    case KernelChoice::Scalar: return scalar_kernels();
    case KernelChoice::Avx2:
      if (!avx2) throw Error("--kernel avx2: this CPU or build lacks avx2+fma+f16c (found: " + cpu.describe() + ")");
      return *avx2;
    case KernelChoice::Avx512:
      if (!avx512) throw Error("--kernel avx512: this CPU or build lacks avx512f/bw/vl (found: " + cpu.describe() + ")");
      return *avx512;
    case KernelChoice::Auto: break;
  }
  if (avx512) return *avx512;
  if (avx2) return *avx2;
  return scalar_kernels();
}

const KernelTable& select_kernels(std::string_view kernel, std::string_view gemm, const CpuFeatures& cpu) {
  const KernelTable& base = select_kernels(parse_kernel_choice(kernel), cpu);
  return gemm == "onednn" ? with_onednn_gemm(base) : base;
}

const KernelTable& with_onednn_gemm(const KernelTable& base) {
  if (!onednn_capabilities().f32_matmul) return base;
  static KernelTable scalar_gemm, avx2_gemm, avx512_gemm;
  KernelTable& t = base.isa == Isa::Scalar ? scalar_gemm : base.isa == Isa::Avx2 ? avx2_gemm : avx512_gemm;
  t = base;
  t.gemm = &onednn_gemm;
  return t;
}

PrefillGemm prefill_gemm(const KernelTable& kt, DType weights) {
  return kt.gemm == &onednn_gemm ? onednn_prefill_path(weights) : PrefillGemm::Native;
}

std::string describe_prefill_gemm(const KernelTable& kt, DType weights) {
  const PrefillGemm p = prefill_gemm(kt, weights);
  if (p != PrefillGemm::Native) return std::string(prefill_gemm_name(p)) + " (" + onednn_capabilities().isa + ")";
  if (kt.gemm == nullptr && !onednn_capabilities().failure.empty())
    return "native (oneDNN unusable: " + onednn_capabilities().failure + ")";
  return "native";
}

}  // namespace qwen3::kernels
