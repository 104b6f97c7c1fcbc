#pragma once
// The kernel interface: small typed operations whose SIMD variants (scalar, AVX2, AVX-512) live in
// kernels/scalar/ and kernels/x86/<isa>/, chosen once at startup by select_kernels(). Callers hold a
// `const KernelTable&` and never see intrinsics.
//
// Numerics: every variant widens bf16/f16 operands to f32 exactly and accumulates in f32, so variants
// differ from the scalar reference only by summation order (tests bound that at 1e-5 + 1e-5*|ref|).
#include <cstdint>
#include <string_view>

#include "qwen3/dtype.hpp"

namespace qwen3::kernels {

enum class Isa { Scalar, Avx2, Avx512 };
std::string_view isa_name(Isa isa);

// 8-bit weights (DType::Q8): symmetric int8 in blocks of this many consecutive columns of a row,
// each block with its own f16 scale (kernels/q8.hpp says why 32 and f16).
constexpr std::int64_t kQ8Block = 32;

// The weight_scale_inv of an FP8 checkpoint's matrix: one scale per block_rows x block_cols block of
// the stored matrix ([ceil(rows/block_rows)][cols] of BF16 as Qwen publishes them, or F16/F32), read
// once at load to make Q8.
struct Fp8Scales {
  const void* data = nullptr;
  DType dtype = DType::F32;
  std::int64_t cols = 0;
  std::int64_t block_rows = 128, block_cols = 128;
};

// A row-major matrix [rows][cols] in its storage dtype (F32, F16, BF16, Q8, or F8_E4M3 before load
// turns it into Q8), e.g. a weight inside the mapped checkpoint. `row_stride` is in elements. Slicing
// rows is a view, never a copy.
struct MatrixView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t row_stride = 0;
  // Q8: the f16 scale of each kQ8Block columns, row r's at scales + r * scale_stride.
  const std::uint16_t* scales = nullptr;
  std::int64_t scale_stride = 0;
  // F8_E4M3: the block scales, and where this view starts in the stored matrix they cover.
  const Fp8Scales* fp8 = nullptr;
  std::int64_t origin_row = 0, origin_col = 0;

  const void* row(std::int64_t r) const;
  MatrixView slice_rows(std::int64_t r0, std::int64_t r1) const;
};

// Element type of the KV cache. Q8: int8 with one f32 scale per row (per token and KV head), scale =
// max|x| / 127: a quarter of f32's bytes, half of bf16's (kernels/q8.hpp, quantize_kv_row).
enum class KvType { F32, BF16, Q8 };
std::string_view kv_type_name(KvType t);  // "f32" | "bf16" | "q8", as --kv-type spells them

// One KV head's rows of a block as the attention kernels read them: [n][head_dim] elements of `type`,
// and for Q8 each row's scale (scales[j] for row j).
struct KvRows {
  const void* data = nullptr;
  KvType type = KvType::F32;
  const float* scales = nullptr;
};

// y[t*y_stride + r] = dot(W[r, :], x[t*x_stride + :]) for bf16 weights and bf16 activations (f32
// sums), t in [0, n_tokens), r in [r0, r1): the products of a CPU with a bf16 dot-product instruction.
using MatmulBf16 = void (*)(const MatrixView& w, const std::uint16_t* x, std::int64_t x_stride, std::int64_t n_tokens,
                            float* y, std::int64_t y_stride, std::int64_t r0, std::int64_t r1);

// Activations quantized for a Q8 product (kernels/q8.hpp): token t's int8 values at q + t * cols and
// its f32 block scales at scales + t * cols / kQ8Block, cols being the weight's.
struct Q8Activations {
  const std::int8_t* q = nullptr;
  const float* scales = nullptr;
  std::int64_t n_tokens = 0;
};

// y[t*y_stride + r] = sum over blocks b of scale_w[r][b] * scale_x[t][b] * (int8 dot of W[r, b] and
// x[t, b]), t in [0, x.n_tokens), r in [r0, r1): Q8 weights times Q8 activations (W8A8).
using MatmulQ8 = void (*)(const MatrixView& w, const Q8Activations& x, float* y, std::int64_t y_stride, std::int64_t r0,
                          std::int64_t r1);

struct KernelTable {
  Isa isa = Isa::Scalar;

  // y[t*y_stride + r] = dot(W[r, :], x[t*x_stride + :]) for t in [0, n_tokens), r in [r0, r1).
  // One call serves decode (n_tokens = 1, memory bound) and prefill (tokens tiled so each weight row
  // is loaded once per tile).
  void (*matmul)(const MatrixView& w, const float* x, std::int64_t x_stride, std::int64_t n_tokens,
                 float* y, std::int64_t y_stride, std::int64_t r0, std::int64_t r1) = nullptr;

  // scores[i*n_keys + j] = scale * dot(q[i*head_dim + :], K[j*head_dim + :]) for n_q query rows and
  // n_keys consecutive keys of one KV head (GQA: the query heads of one group share each key load).
  // `prefetch` (may be nullptr) is a region of the same shape the caller reads next, e.g. this head's
  // values: the kernel requests its lines as it consumes its own, so the next kernel finds them in
  // cache. Decode attention streams the KV cache once per token, and without this a kernel stalled
  // on every first touch of a row (AVX2 P.V walks a row in 64-byte passes).
  void (*attention_scores)(const float* q, std::int64_t n_q, KvRows k, std::int64_t n_keys, std::int64_t head_dim, float scale,
                           float* scores, const void* prefetch) = nullptr;

  // o[i*o_stride + :] = o_scale[i] * o[i*o_stride + :] + sum_j p[i*n_keys + j] * V[j*head_dim + :] for
  // n_q rows (o_scale nullptr: 1). The scale is online softmax's rescale of what was accumulated under
  // an older running max, applied while o is in registers anyway; the stride lets o be the output part
  // of packed online-softmax state rows.
  // `prefetch` as for attention_scores (e.g. the keys of the next head or block).
  void (*attention_accumulate)(const float* p, std::int64_t n_q, KvRows v, std::int64_t n_keys, std::int64_t head_dim,
                               const float* o_scale, float* o, std::int64_t o_stride, const void* prefetch) = nullptr;

  // x[j] <- exp(x[j] - shift) for n values, with -inf (a masked score) giving 0; returns the sum.
  // The numerator and denominator of a softmax whose running max is `shift`.
  float (*exp_shifted_sum)(float* x, std::int64_t n, float shift) = nullptr;

  // out[i*cols + c] = W[r0 + i, c] widened exactly to f32, for n_rows rows: weight tiles for an f32
  // product where no bf16/f16 one exists (kernels/onednn/gemm.hpp).
  void (*widen_rows)(const MatrixView& w, std::int64_t r0, std::int64_t n_rows, float* out) = nullptr;

  // Optional whole-matrix product for many tokens (prefill), threaded inside: y[t][r] = W[r,:].x[t,:]
  // for every row, using this table's other kernels where it needs them. Returns false where it does
  // not apply; callers then use matmul. nullptr: none.
  bool (*gemm)(const KernelTable& k, const MatrixView& w, const float* x, std::int64_t n_tokens, float* y) = nullptr;

  // Optional: the row kernel for bf16 weights on activations rounded to bf16 (the numerics of the
  // bf16 gemm, see kernels/onednn/gemm.hpp). Where set, ops::linear sends bf16 products of fewer
  // tokens than a gemm takes here instead of to `matmul`. nullptr: every row product is f32.
  MatmulBf16 matmul_bf16 = nullptr;

  // Optional: the row kernel of Q8 weights on activations quantized to int8 (W8A8; ops::linear
  // quantizes them once per call). nullptr: Q8 products go to `matmul`, which widens the weights and
  // keeps the activations f32 (W8A16).
  MatmulQ8 matmul_q8 = nullptr;
};

// The scalar table: always compiled, the in-process referee for every other variant.
const KernelTable& scalar_kernels();
const KernelTable* avx2_kernels();    // nullptr if not compiled in
const KernelTable* avx512_kernels();  // nullptr if not compiled in
MatmulBf16 avx512_bf16_matmul();      // vdpbf16ps (AVX512-BF16); nullptr if not compiled in
// out[i*cols + c] = bf16(W[r0 + i, c]) for n_rows rows of a Q8 matrix: tiles for a bf16 gemm.
using DequantizeQ8Bf16 = void (*)(const MatrixView& w, std::int64_t r0, std::int64_t n_rows, std::uint16_t* out);
DequantizeQ8Bf16 avx512_bf16_dequantize_q8();  // vcvtne2ps2bf16 (AVX512-BF16); nullptr if not compiled in
void scalar_dequantize_q8_bf16(const MatrixView& w, std::int64_t r0, std::int64_t n_rows, std::uint16_t* out);
MatmulQ8 avx2_q8_matmul();            // vpmaddubsw (AVX2); nullptr if not compiled in
MatmulQ8 avx512_vnni_q8_matmul();     // vpdpbusd (AVX512-VNNI); nullptr if not compiled in

// The referee of every MatmulBf16: bf16 x bf16 products summed in double, in column order.
// The referee of every MatmulQ8: each block's int8 dot exact, scaled and summed in double.
void scalar_matmul_q8(const MatrixView& w, const Q8Activations& x, float* y, std::int64_t y_stride, std::int64_t r0, std::int64_t r1);

void scalar_matmul_bf16(const MatrixView& w, const std::uint16_t* x, std::int64_t x_stride, std::int64_t n_tokens, float* y,
                        std::int64_t y_stride, std::int64_t r0, std::int64_t r1);

}  // namespace qwen3::kernels
