#include "kernels/kernels.hpp"

namespace qwen3::kernels {

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

std::string_view kv_type_name(KvType t) {
  switch (t) {
    case KvType::F32: return "f32";
    case KvType::BF16: return "bf16";
    case KvType::Q8: return "q8";
  }
  return "?";
}

const void* MatrixView::row(std::int64_t r) const {
  return static_cast<const char*>(data) + r * row_stride * static_cast<std::int64_t>(dtype_size(dtype));
}

MatrixView MatrixView::slice_rows(std::int64_t r0, std::int64_t r1) const {
  MatrixView v = *this;
  v.data = row(r0);
  v.rows = r1 - r0;
  if (scales) v.scales = scales + r0 * scale_stride;
  v.origin_row += r0;
  return v;
}

}  // namespace qwen3::kernels
