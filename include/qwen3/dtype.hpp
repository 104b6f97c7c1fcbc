#pragma once
// Element types as safetensors names them (F8_E4M3: Qwen's published FP8 checkpoints), plus Q8, this
// runtime's own 8-bit weight format (int8 in blocks of kernels::kQ8Block columns, one f16 scale each;
// kernels/q8.hpp), which no file holds: weights become Q8 at load (--weights q8, or FP8 checkpoints).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qwen3 {

enum class DType : std::uint8_t { F32, F16, BF16, I32, I64, F8_E4M3, Q8 };

std::size_t dtype_size(DType t);
std::string_view dtype_name(DType t);                         // "F32", "BF16", ... (safetensors spelling)
std::optional<DType> parse_dtype(std::string_view safetensors_name);  // nullopt for unsupported names (and "Q8")
inline bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace qwen3
