#pragma once
// The 8-bit formats: Q8 weights (this runtime's own, made at load), the activations a Q8 product
// multiplies them with, and the FP8 (e4m3) weights of Qwen's published FP8 checkpoints, which load
// turns into Q8.
//
// Q8: each row in blocks of kQ8Block = 32 columns, int8 values in [-127, 127] and one f16 scale per
// block, scale = max|w| / 127 (the layout of llama.cpp's q8_0, in two arrays instead of one so a
// column slice of a row is a pointer into each). 32 columns: one 256-bit register of int8, the unit
// the kernels multiply, and small enough that one large weight costs the precision of 31 others
// only. f16 scales: 1.0625 bytes per weight against 1.125 with f32, and decode reads every byte.
//
// Activations are quantized per token in the same blocks with f32 scales, to int16 by default (a
// block's product is one vpmaddwd on the weights widened to int16, scaled once) or to int8 with
// --decode-rows int8 (W8A8: vpdpbusd / vpmaddubsw, faster for many sequences, coarser). The rounding
// is the same function on every ISA level, so every level multiplies the same integers.
#include <cstdint>

#include "kernels/kernels.hpp"

namespace qwen3::kernels {

// f32 -> f16, rounded to nearest even (overflow to inf; NaN stays NaN).
std::uint16_t f32_to_f16(float f);

// The float8_e4m3fn value of a byte (sign, 4 exponent bits biased by 7, 3 mantissa bits; no
// infinities, 0x7f/0xff are NaN), exactly.
float fp8_e4m3_to_f32(std::uint8_t v);

// n values (a multiple of kQ8Block) into int8 q and one f16 scale per block.
void quantize_q8_weights(const float* x, std::int64_t n, std::int8_t* q, std::uint16_t* scales);
// The same for activations, with f32 scales.
void quantize_q8_activations(const float* x, std::int64_t n, std::int8_t* q, float* scales);
// Activations at 16 bits for the default Q8 product: int16 in [-32767, 32767] per block of
// kQ8Block, scale max|x| / 32767 (a step of 1/65534 of the block's largest value, finer than bf16).
void quantize_i16_activations(const float* x, std::int64_t n, std::int16_t* q, float* scales);
// One KV row (a token's key or value of one KV head, n = head_dim values) into int8 with one f32
// scale, max|x| / 127 (KvType::Q8).
void quantize_kv_row(const float* x, std::int64_t n, std::int8_t* q, float* scale);
// q * scale for n values of a Q8 row.
void dequantize_q8(const std::int8_t* q, const std::uint16_t* scales, std::int64_t n, float* out);

// Row r of a matrix in F32, F16, BF16 or F8_E4M3 (times its block scale) widened to f32.
void source_row_f32(const MatrixView& m, std::int64_t r, float* out);

// `src` (F32, F16, BF16 or F8_E4M3; cols a multiple of kQ8Block) quantized into rows of `q`
// ([rows][cols]) and `scales` ([rows][cols / kQ8Block]), rows split over the OpenMP team.
void quantize_matrix_q8(const MatrixView& src, std::int8_t* q, std::uint16_t* scales);

// The bytes a Q8 copy of a rows x cols matrix takes: values and scales.
inline std::int64_t q8_bytes(std::int64_t rows, std::int64_t cols) { return rows * cols + rows * (cols / kQ8Block) * 2; }

}  // namespace qwen3::kernels
