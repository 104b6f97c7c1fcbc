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

const KernelTable& select_kernels(std::string_view kernel, std::string_view gemm, std::string_view decode_rows, const CpuFeatures& cpu) {
  const KernelTable& base = select_kernels(parse_kernel_choice(kernel), cpu);
  const KernelTable& with_gemm = gemm == "onednn" ? with_onednn_gemm(base) : base;
  if (decode_rows == "bf16") return with_bf16_rows(with_gemm);
  if (decode_rows == "int8") return with_int8_rows(with_gemm, cpu);
  return with_gemm;
}

const KernelTable& with_int8_rows(const KernelTable& base, const CpuFeatures& cpu) {
  // One copy per variant and gemm: the tables are chosen once at start-up and then only read.
  static KernelTable copies[3][2];
  KernelTable& t = copies[static_cast<int>(base.isa)][base.gemm ? 1 : 0];
  t = base;
  const MatmulQ8 vnni = base.isa == Isa::Avx512 && cpu.avx512vnni ? avx512_vnni_q8_matmul() : nullptr;
  t.matmul_q8 = base.isa == Isa::Scalar ? &scalar_matmul_q8 : vnni ? vnni : avx2_q8_matmul();
  return t;
}

const KernelTable& with_onednn_gemm(const KernelTable& base) {
  if (!onednn_capabilities().f32_matmul) return base;
  static KernelTable scalar_gemm, avx2_gemm, avx512_gemm;
  KernelTable& t = base.isa == Isa::Scalar ? scalar_gemm : base.isa == Isa::Avx2 ? avx2_gemm : avx512_gemm;
  t = base;
  t.gemm = &onednn_gemm;
  return t;
}

const KernelTable& with_bf16_rows(const KernelTable& base) {
  const MatmulBf16 rows = avx512_bf16_matmul();
  if (base.isa != Isa::Avx512 || !rows || !detect_cpu_features().avx512bf16) return base;
  static KernelTable with_gemm, without_gemm;
  KernelTable& t = base.gemm ? with_gemm : without_gemm;
  t = base;
  t.matmul_bf16 = rows;
  return t;
}

PrefillGemm prefill_gemm(const KernelTable& kt, DType weights) {
  return kt.gemm == &onednn_gemm ? onednn_prefill_path(weights) : PrefillGemm::Native;
}

std::string_view q8_rows_name(const KernelTable& kt) {
  if (!kt.matmul_q8) return "";
  if (kt.matmul_q8 == avx512_vnni_q8_matmul()) return "avx512vnni";
  if (kt.matmul_q8 == avx2_q8_matmul()) return "avx2";
  return "scalar";
}

std::string describe_kernels(const KernelTable& kt, DType weights) {
  std::string s(isa_name(kt.isa));
  if (kt.matmul_bf16 && weights == DType::BF16) s += " (decode rows bf16: avx512bf16)";
  if (kt.matmul_q8 && weights == DType::Q8) s += " (decode rows int8: " + std::string(q8_rows_name(kt)) + ")";
  return s;
}

std::string describe_prefill_gemm(const KernelTable& kt, DType weights) {
  const PrefillGemm p = prefill_gemm(kt, weights);
  if (p != PrefillGemm::Native) return std::string(prefill_gemm_name(p)) + " (" + onednn_capabilities().isa + ")";
  if (kt.gemm == nullptr && !onednn_capabilities().failure.empty())
    return "native (oneDNN unusable: " + onednn_capabilities().failure + ")";
  return "native";
}

}  // namespace qwen3::kernels
