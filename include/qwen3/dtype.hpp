#pragma once
// Element types as safetensors names them. Weights stay in their checkpoint dtype in memory;
// kernels convert on the fly.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qwen3 {

enum class DType : std::uint8_t { F32, F16, BF16, I32, I64 };

std::size_t dtype_size(DType t);
std::string_view dtype_name(DType t);                         // "F32", "BF16", ... (safetensors spelling)
std::optional<DType> parse_dtype(std::string_view safetensors_name);  // nullopt for unsupported names
inline bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace qwen3
