// The CUDA layer of a build without CUDA (QWEN3_CUDA=OFF, or AUTO where no CUDA compiler was found):
// no device, and the probe says why. Nothing here is reached but the probe: callers ask it first.
#include <string>

#include "cuda/cuda_sdpa.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cuda {
namespace {

[[noreturn]] void no_cuda() { throw Error("this qwen3_mpi was built without CUDA (configure with -DQWEN3_CUDA=ON where nvcc is)"); }

}  // namespace

DeviceProbe probe_devices() { return {0, "built without CUDA (QWEN3_CUDA=OFF, or no CUDA compiler found)"}; }
DeviceInfo use_device(int) { no_cuda(); }
DeviceBuffer::DeviceBuffer(std::size_t) { no_cuda(); }
DeviceBuffer::~DeviceBuffer() = default;
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&&) noexcept { return *this; }
void DeviceBuffer::upload(const void*, std::size_t, std::size_t) { no_cuda(); }
void DeviceBuffer::download(void*, std::size_t, std::size_t) const { no_cuda(); }
void DeviceBuffer::upload_strided(const void*, std::size_t, std::size_t, std::size_t, std::size_t) { no_cuda(); }
float* AttentionWorkspace::split_states(std::size_t) { no_cuda(); }
void attend(const DeviceAttentionProblem&, AttentionWorkspace&) { no_cuda(); }

}  // namespace qwen3::cuda
