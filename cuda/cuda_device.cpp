// The CUDA runtime's side of the layer (the build links it statically, so the binary starts where
// no driver is installed; the probe then says why there is no device).
#include <cuda_runtime_api.h>

#include <string>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_sdpa.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cuda {
namespace {

std::string mib(std::size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

DeviceProbe probe_devices() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // the runtime keeps the error otherwise
    return {0, std::string("no CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(e) + ")"};
  }
  if (count == 0) return {0, "no CUDA device (the CUDA runtime sees none)"};
  return {count, {}};
}

DeviceInfo use_device(int device) {
  check(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  DeviceInfo info;
  info.name = prop.name;
  check(cudaMemGetInfo(&info.free_bytes, &info.total_bytes), "cudaMemGetInfo");
  return info;
}

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    ptr_ = nullptr;
    if (e != cudaErrorMemoryAllocation) check(e, "cudaMalloc(" + std::to_string(bytes) + " bytes)");  // its own words
    std::size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    throw Error("CUDA: out of device memory: " + std::to_string(bytes) + " bytes asked, " + mib(free_bytes) + " free of " + mib(total) +
                " (" + cudaGetErrorString(e) + ")");
  }
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, std::size_t bytes, std::size_t offset) {
  if (offset + bytes > bytes_) throw Error("CUDA: upload past the end of a device buffer");
  check(cudaMemcpy(static_cast<char*>(ptr_) + offset, host, bytes, cudaMemcpyHostToDevice), "copy to the device");
}

void DeviceBuffer::upload_strided(const void* host, std::size_t pitch, std::size_t width, std::size_t height, std::size_t offset) {
  if (height == 0 || width == 0) return;
  if (width > pitch || offset + (height - 1) * pitch + width > bytes_) throw Error("CUDA: strided upload past the end of a device buffer");
  check(cudaMemcpy2D(static_cast<char*>(ptr_) + offset, pitch, host, pitch, width, height, cudaMemcpyHostToDevice), "strided copy to the device");
}

void DeviceBuffer::download(void* host, std::size_t bytes, std::size_t offset) const {
  if (offset + bytes > bytes_) throw Error("CUDA: download past the end of a device buffer");
  check(cudaMemcpy(host, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost), "copy from the device");
}

}  // namespace qwen3::cuda
