#pragma once
// The layer's one way to turn a CUDA runtime error into qwen3::Error (private to cuda/: it names the
// runtime's types).
#include <cuda_runtime_api.h>

#include <string>

#include "qwen3/error.hpp"

namespace qwen3::cuda {

inline void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw Error("CUDA: " + what + ": " + cudaGetErrorString(e));
}

}  // namespace qwen3::cuda
