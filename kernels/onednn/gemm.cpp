#include "kernels/onednn/gemm.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include "kernels/convert.hpp"
#include "kernels/cpu_features.hpp"

namespace qwen3::kernels {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Widened weight tiles of about this many bytes. Prefill 512 on Qwen3-0.6B bf16, oneDNN capped at
// AVX2, 2 threads (bench/decode): 256 KiB 165, 1 MiB 166, 4 MiB 169-175, 16 MiB 165 tokens/s.
constexpr std::int64_t kConvertTileBytes = 1 << 22;

std::string isa_string(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "isa " + std::to_string(static_cast<int>(isa));
  }
}

// One matmul shape: M tokens x N weight rows x K columns; the output row stride (ldc) lets a tile of
// weight rows write its columns of a wider y.
using ShapeKey = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, dt, int>;

struct Engine {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  // Primitive creation costs milliseconds; prefill reuses a handful of shapes. The thread count is
  // part of the key because a oneDNN primitive keeps the OpenMP thread count it was created under.
  // A shape oneDNN refused maps to nullopt, so it is tried (and reported) once.
  std::map<ShapeKey, std::optional<dnnl::matmul>> cache;
  std::vector<std::uint16_t> x_bf16;
  std::vector<float> w_f32;
  std::vector<std::uint16_t> w_bf16;
  bool failed = false;  // an execution failed: every later call goes to the native tiles
  bool refuse_new_shapes = false;  // onednn_refuse_new_shapes_for_testing
};

// One per thread that multiplies: the members of NUMA domains each run their prefill on their own
// thread at the same time, and one engine shared behind a lock serialized their products (2 pretend
// domains prefilled Qwen3-0.6B 1.25x slower than 2 MPI ranks). Nothing in it is shared, so no lock.
Engine& engine() {
  thread_local Engine e;
  return e;
}

dnnl::matmul make_matmul(const dnnl::engine& eng, std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t ldc,
                         dt in_type) {
  // Weights are [N][K] row-major, i.e. the K x N operand in "ba" (transposed) layout: no copy.
  const dnnl::memory::desc src_md({M, K}, in_type, tag::ab);
  const dnnl::memory::desc wei_md({K, N}, in_type, tag::ba);
  const dnnl::memory::desc dst_md({M, N}, dt::f32, dnnl::memory::dims{ldc, 1});
  return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, dst_md), eng));
}

// The cached primitive for a shape, or nullptr if oneDNN cannot make one (said once on stderr).
const dnnl::matmul* primitive_for(Engine& e, std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t ldc, dt in_type) {
  const ShapeKey key{M, N, K, ldc, in_type, omp_get_max_threads()};
  auto it = e.cache.find(key);
  if (it == e.cache.end()) {
    std::optional<dnnl::matmul> p;
    try {
      if (e.refuse_new_shapes) throw dnnl::error(dnnl_unimplemented, "refused for a test");
      p = make_matmul(e.engine, M, N, K, ldc, in_type);
    } catch (const dnnl::error& err) {
      std::fprintf(stderr, "note: oneDNN has no %s matmul for %lld x %lld x %lld (%s); it runs on native tiles\n",
                   in_type == dt::bf16 ? "bf16" : "f32", static_cast<long long>(M), static_cast<long long>(N),
                   static_cast<long long>(K), err.what());
    }
    it = e.cache.emplace(key, std::move(p)).first;
  }
  return it->second ? &*it->second : nullptr;
}

void run(Engine& e, const dnnl::matmul& p, std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t ldc, dt in_type,
         const void* src, const void* wei, float* dst) {
  dnnl::memory src_mem({{M, K}, in_type, tag::ab}, e.engine, const_cast<void*>(src));
  dnnl::memory wei_mem({{K, N}, in_type, tag::ba}, e.engine, const_cast<void*>(wei));
  dnnl::memory dst_mem({{M, N}, dt::f32, dnnl::memory::dims{ldc, 1}}, e.engine, dst);
  p.execute(e.stream, {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, wei_mem}, {DNNL_ARG_DST, dst_mem}});
  e.stream.wait();
}

// Creates and runs one small matmul of this type; false (with oneDNN's message) if either fails.
bool probe(dt in_type, std::string* failure) {
  try {
    Engine& e = engine();
    constexpr std::int64_t M = 32, N = 48, K = 64;
    std::vector<std::uint16_t> h(static_cast<std::size_t>(std::max(M, N) * K), 0x3f80);  // bf16 1.0
    std::vector<float> f(h.size(), 1.f), y(static_cast<std::size_t>(M * N), 0.f);
    const void* src = in_type == dt::bf16 ? static_cast<const void*>(h.data()) : f.data();
    run(e, make_matmul(e.engine, M, N, K, N, in_type), M, N, K, N, in_type, src, src, y.data());
    // Every element: given fewer threads than it planned for, oneDNN leaves part of y unwritten.
    if (std::any_of(y.begin(), y.end(), [](float v) { return v != static_cast<float>(K); })) {
      if (failure) *failure = "its probe matmul gave a wrong result (more OpenMP threads planned than granted?)";
      return false;
    }
    return true;
  } catch (const dnnl::error& err) {
    if (failure) *failure = err.what();
    return false;
  }
}

// Activations rounded to bf16 for a bf16 matmul, into the engine's buffer.
const std::uint16_t* bf16_activations(Engine& e, const float* x, std::int64_t n) {
  e.x_bf16.resize(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) e.x_bf16[static_cast<std::size_t>(i)] = f32_to_bf16(x[i]);
  return e.x_bf16.data();
}

bool gemm_direct(Engine& e, const MatrixView& w, const float* x, std::int64_t M, float* y, dt in_type) {
  const std::int64_t N = w.rows, K = w.cols;
  const dnnl::matmul* p = primitive_for(e, M, N, K, N, in_type);
  if (!p) return false;
  const void* src = in_type == dt::bf16 ? static_cast<const void*>(bf16_activations(e, x, M * K)) : x;
  run(e, *p, M, N, K, N, in_type, src, w.data, y);
  return true;
}

// Rows [r0, r0 + n_rows) widened by the table's kernel, the rows shared across the thread team.
void widen_tile(const KernelTable& k, const MatrixView& w, std::int64_t r0, std::int64_t n_rows, float* out) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < n_rows; ++r) k.widen_rows(w, r0 + r, 1, out + r * w.cols);
}

// Weights without a oneDNN matmul of their own (bf16/f16 where no bf16 matmul exists, Q8): tiles of
// rows widened by the table's kernel (exactly, to f32) or Q8 dequantized to bf16, each multiplied
// by oneDNN's matmul of that type into its columns of y. Widening costs one pass over the weights per
// call, against M multiply-adds per weight in the product.
bool gemm_converted(Engine& e, const KernelTable& k, const MatrixView& w, const float* x, std::int64_t M, float* y, dt tile_type) {
  const std::int64_t N = w.rows, K = w.cols;
  const std::int64_t elem = tile_type == dt::bf16 ? 2 : 4;
  const std::int64_t tile = std::clamp<std::int64_t>(kConvertTileBytes / (K * elem) / 16 * 16, 16, N);
  if (tile_type == dt::bf16) e.w_bf16.resize(static_cast<std::size_t>(tile * K));
  else e.w_f32.resize(static_cast<std::size_t>(tile * K));
  // Check every shape first, so a refused one falls back before any of y is written.
  const dnnl::matmul* full = primitive_for(e, M, tile, K, N, tile_type);
  const dnnl::matmul* last = N % tile ? primitive_for(e, M, N % tile, K, N, tile_type) : full;
  if (!full || !last) return false;
  const void* src = tile_type == dt::bf16 ? static_cast<const void*>(bf16_activations(e, x, M * K)) : x;
  // Q8 to bf16 in one pass where the CPU can round to bf16 (it does, wherever oneDNN has a bf16 matmul).
  const DequantizeQ8Bf16 fast = detect_cpu_features().avx512bf16 ? avx512_bf16_dequantize_q8() : nullptr;
  const DequantizeQ8Bf16 to_bf16 = fast ? fast : &scalar_dequantize_q8_bf16;
  for (std::int64_t r0 = 0; r0 < N; r0 += tile) {
    const std::int64_t rows = std::min(tile, N - r0);
    const void* wei = e.w_f32.data();
    if (tile_type == dt::bf16) {
#pragma omp parallel for schedule(static)
      for (std::int64_t r = 0; r < rows; ++r) to_bf16(w, r0 + r, 1, e.w_bf16.data() + r * K);
      wei = e.w_bf16.data();
    } else {
      widen_tile(k, w, r0, rows, e.w_f32.data());
    }
    run(e, rows == tile ? *full : *last, M, rows, K, N, tile_type, src, wei, y + r0);
  }
  return true;
}

// QWEN3_MAX_ISA caps oneDNN as well, unless its own variable is set: one knob runs the whole
// program as on an older CPU. Must run before oneDNN's first primitive, which fixes its ISA.
void apply_isa_cap() {
  if (std::getenv("ONEDNN_MAX_CPU_ISA") || std::getenv("DNNL_MAX_CPU_ISA")) return;
  const std::string cap = detect_cpu_features().cap;
  if (cap == "avx2") dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
  else if (cap == "scalar") dnnl::set_max_cpu_isa(dnnl::cpu_isa::sse41);
}

}  // namespace

std::string_view prefill_gemm_name(PrefillGemm p) {
  switch (p) {
    case PrefillGemm::OneDnnBf16: return "onednn bf16";
    case PrefillGemm::OneDnnF32: return "onednn f32";
    case PrefillGemm::OneDnnF32Converted: return "onednn f32 on widened tiles";
    case PrefillGemm::OneDnnBf16Converted: return "onednn bf16 on dequantized tiles";
    case PrefillGemm::Native: break;
  }
  return "native";
}

const OneDnnCapabilities& onednn_capabilities() {
  static const OneDnnCapabilities caps = [] {
    OneDnnCapabilities c;
    try {
      apply_isa_cap();
      c.isa = isa_string(dnnl::get_effective_cpu_isa());
      c.f32_matmul = probe(dt::f32, &c.failure);
      c.bf16_matmul = c.f32_matmul && probe(dt::bf16, nullptr);
    } catch (const std::exception& err) {  // e.g. the engine itself cannot be made
      c.failure = err.what();
    }
    return c;
  }();
  return caps;
}

PrefillGemm onednn_prefill_path(DType weights) {
  const OneDnnCapabilities& c = onednn_capabilities();
  if (!c.f32_matmul) return PrefillGemm::Native;
  switch (weights) {
    case DType::F32: return PrefillGemm::OneDnnF32;
    case DType::BF16: return c.bf16_matmul ? PrefillGemm::OneDnnBf16 : PrefillGemm::OneDnnF32Converted;
    case DType::F16: return PrefillGemm::OneDnnF32Converted;
    case DType::Q8: return c.bf16_matmul ? PrefillGemm::OneDnnBf16Converted : PrefillGemm::OneDnnF32Converted;
    default: return PrefillGemm::Native;
  }
}

bool onednn_gemm(const KernelTable& k, const MatrixView& w, const float* x, std::int64_t n_tokens, float* y) {
  if (w.row_stride != w.cols) return false;
  const PrefillGemm path = onednn_prefill_path(w.dtype);
  if (path == PrefillGemm::Native) return false;
  Engine& e = engine();
  if (e.failed) return false;
  try {
    switch (path) {
      case PrefillGemm::OneDnnBf16: return gemm_direct(e, w, x, n_tokens, y, dt::bf16);
      case PrefillGemm::OneDnnF32: return gemm_direct(e, w, x, n_tokens, y, dt::f32);
      case PrefillGemm::OneDnnF32Converted: return gemm_converted(e, k, w, x, n_tokens, y, dt::f32);
      case PrefillGemm::OneDnnBf16Converted: return gemm_converted(e, k, w, x, n_tokens, y, dt::bf16);
      case PrefillGemm::Native: break;
    }
  } catch (const dnnl::error& err) {
    // Execution failing after creation succeeded is not expected; the native tiles still give the
    // right answer, so say so once and let the caller recompute y.
    e.failed = true;
    std::fprintf(stderr, "note: oneDNN matmul failed (%s); prefill runs on native tiles from here on\n", err.what());
  }
  return false;
}

void onednn_refuse_new_shapes_for_testing(bool on) {
  engine().refuse_new_shapes = on;
}

}  // namespace qwen3::kernels
