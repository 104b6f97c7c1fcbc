#include "kernels/onednn/gemm.hpp"

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include "kernels/convert.hpp"

namespace qwen3::kernels {
namespace {

struct Engine {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  // Primitive creation costs milliseconds; prefill reuses a handful of (M, N, K, dtype) shapes. The
  // thread count is part of the key because a oneDNN primitive keeps the OpenMP thread count it was
  // created under: bench/decode --threads 1,2 ran its 2-thread fp32 prefill on 1-thread primitives.
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, int, int>, dnnl::matmul> cache;
  std::vector<std::uint16_t> x_bf16;
  std::mutex mutex;
};

Engine& engine() {
  static Engine e;
  return e;
}

}  // namespace

bool onednn_gemm(const MatrixView& w, const float* x, std::int64_t n_tokens, float* y) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  if (w.dtype != DType::BF16 && w.dtype != DType::F32) return false;
  if (w.row_stride != w.cols) return false;
  Engine& e = engine();
  std::lock_guard<std::mutex> lock(e.mutex);
  const std::int64_t M = n_tokens, N = w.rows, K = w.cols;
  const dt in_type = w.dtype == DType::BF16 ? dt::bf16 : dt::f32;
  // Weights are [N][K] row-major, i.e. the K x N operand in "ba" (transposed) layout: no copy.
  const dnnl::memory::desc src_md({M, K}, in_type, tag::ab);
  const dnnl::memory::desc wei_md({K, N}, in_type, tag::ba);
  const dnnl::memory::desc dst_md({M, N}, dt::f32, tag::ab);
  const auto key = std::make_tuple(M, N, K, static_cast<int>(w.dtype), omp_get_max_threads());
  auto it = e.cache.find(key);
  if (it == e.cache.end()) {
    const dnnl::matmul::desc desc(src_md, wei_md, dst_md);
    it = e.cache.emplace(key, dnnl::matmul(dnnl::matmul::primitive_desc(desc, e.engine))).first;
  }
  void* src = const_cast<float*>(x);
  if (w.dtype == DType::BF16) {
    e.x_bf16.resize(static_cast<std::size_t>(M * K));
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < M * K; ++i) e.x_bf16[static_cast<std::size_t>(i)] = f32_to_bf16(x[i]);
    src = e.x_bf16.data();
  }
  dnnl::memory src_mem(src_md, e.engine, src);
  dnnl::memory wei_mem(wei_md, e.engine, const_cast<void*>(w.data));
  dnnl::memory dst_mem(dst_md, e.engine, y);
  it->second.execute(e.stream, {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, wei_mem}, {DNNL_ARG_DST, dst_mem}});
  e.stream.wait();
  return true;
}

}  // namespace qwen3::kernels
