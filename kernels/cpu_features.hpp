#pragma once
// What the CPU and the OS together allow. An instruction set counts only if cpuid reports it AND the
// OS saves its registers on context switch (XGETBV), the check a cpuid-only probe forgets.
#include <string>

namespace qwen3::kernels {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512bf16 = false;
  bool amx_bf16 = false;

  bool has_avx2_set() const { return avx2 && fma && f16c; }
  bool has_avx512_set() const { return has_avx2_set() && avx512f && avx512bw && avx512vl; }
  std::string describe() const;  // e.g. "avx2 fma f16c avx512f avx512bw avx512vl avx512bf16"
};

CpuFeatures detect_cpu_features();

}  // namespace qwen3::kernels
