#include "kernels/cpu_features.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdint>
#include <cstdlib>

#include "qwen3/error.hpp"

namespace qwen3::kernels {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0 via xgetbv, written as inline asm so this file needs no -mxsave.
std::uint64_t read_xcr0() {
  std::uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<std::uint64_t>(edx) << 32) | eax;
}
#endif

CpuFeatures detect_hardware_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  const bool cpu_fma = (c >> 12) & 1;
  const bool cpu_f16c = (c >> 29) & 1;
  const bool cpu_avx = (c >> 28) & 1;
  if (!osxsave || !cpu_avx) return f;
  const std::uint64_t xcr0 = read_xcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;              // SSE + AVX state saved
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask + ZMM_Hi256 + Hi16_ZMM saved
  if (!os_ymm) return f;
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
  __cpuid_count(7, 0, a7, b7, c7, d7);
  f.fma = cpu_fma;
  f.f16c = cpu_f16c;
  f.avx2 = (b7 >> 5) & 1;
  if (os_zmm) {
    f.avx512f = (b7 >> 16) & 1;
    f.avx512bw = (b7 >> 30) & 1;
    f.avx512vl = (b7 >> 31) & 1;
    f.avx512vnni = (c7 >> 11) & 1;
    unsigned a71 = 0, b71 = 0, c71 = 0, d71 = 0;
    __cpuid_count(7, 1, a71, b71, c71, d71);
    f.avx512bf16 = (a71 >> 5) & 1;
  }
  f.amx_bf16 = (d7 >> 22) & 1;
#endif
  return f;
}

}  // namespace

CpuFeatures detect_cpu_features() {
  const char* level = std::getenv("QWEN3_MAX_ISA");
  const CpuFeatures f = detect_hardware_features();
  return level && *level ? cap_cpu_features(f, level) : f;
}

CpuFeatures cap_cpu_features(CpuFeatures f, std::string_view level) {
  if (level != "scalar" && level != "avx2" && level != "avx512")
    throw Error("QWEN3_MAX_ISA=" + std::string(level) + ": expected one of scalar, avx2, avx512");
  if (level == "avx512") return f;
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512vnni = f.avx512bf16 = f.amx_bf16 = false;
  if (level == "scalar") f.avx2 = f.fma = f.f16c = false;
  f.cap = std::string(level);
  return f;
}


std::string CpuFeatures::describe() const {
  std::string s;
  auto add = [&s](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(avx2, "avx2");
  add(fma, "fma");
  add(f16c, "f16c");
  add(avx512f, "avx512f");
  add(avx512bw, "avx512bw");
  add(avx512vl, "avx512vl");
  add(avx512vnni, "avx512vnni");
  add(avx512bf16, "avx512bf16");
  add(amx_bf16, "amx-bf16");
  if (s.empty()) s = "none";
  if (!cap.empty()) s += " (capped at " + cap + " by QWEN3_MAX_ISA)";
  return s;
}

}  // namespace qwen3::kernels
