#pragma once
// What the CPU and the OS together allow. An instruction set counts only if cpuid reports it AND the
// OS saves its registers on context switch (XGETBV), the check a cpuid-only probe forgets.
#include <string>
#include <string_view>

namespace qwen3::kernels {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool amx_bf16 = false;

  std::string cap;  // the QWEN3_MAX_ISA value that hid features above it, else empty

  bool has_avx2_set() const { return avx2 && fma && f16c; }
  bool has_avx512_set() const { return has_avx2_set() && avx512f && avx512bw && avx512vl; }
  // e.g. "avx2 fma f16c avx512f avx512bw avx512vl avx512bf16", then " (capped at avx2 by QWEN3_MAX_ISA)"
  std::string describe() const;
};

// What the CPU and OS allow, lowered to the QWEN3_MAX_ISA environment variable when it is set
// (scalar | avx2 | avx512), the way ONEDNN_MAX_CPU_ISA caps oneDNN: one binary and one suite then
// run as they would on an older CPU. The cap reaches oneDNN too (avx2 -> AVX2, scalar -> SSE41)
// unless ONEDNN_MAX_CPU_ISA or DNNL_MAX_CPU_ISA says otherwise. Throws qwen3::Error on other values.
CpuFeatures detect_cpu_features();

// The features of `f` that an ISA level allows ("scalar", "avx2", "avx512"); throws on other names.
CpuFeatures cap_cpu_features(CpuFeatures f, std::string_view level);

}  // namespace qwen3::kernels
