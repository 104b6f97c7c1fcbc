#pragma once
// Attention on a rank's GPU (the optional CUDA layer; cuda/README.md). The only target that sees the
// CUDA runtime: this header has plain C++ types, so everything above compiles the same with or
// without CUDA, and a build without it (QWEN3_CUDA=OFF, or no nvcc found) links cuda_none.cpp, whose
// probe says so.
//
// The kernels compute what attention/streaming.cpp computes: for every (query token, head) row, the
// partial online-softmax state (m, l, o) over the keys this rank holds, packed head-major
// ([n_heads][n_tokens][head_dim + 2], include/qwen3/online_softmax.hpp), so the existing merge(), the
// MPI_Op and the reduce-scatter combine GPU ranks and CPU ranks in one job. Visibility is by global
// position (key position <= query position), as on the CPU; an evicted slot (position INT32_MAX) is
// never visible.
#include <cstddef>
#include <cstdint>
#include <string>

namespace qwen3::cuda {

// What this process can use: the devices the CUDA runtime sees, or why none.
struct DeviceProbe {
  int count = 0;
  std::string why_none;  // "no CUDA device (cudaGetDeviceCount: ...)", "built without CUDA (...)"
};
DeviceProbe probe_devices();

// The device a rank takes on its node: its local rank modulo the devices it sees (CUDA_VISIBLE_DEVICES
// narrows those), the local rank as the launcher gives it (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK,
// Slurm's SLURM_LOCALID, MPICH's MPI_LOCALRANKID; 0 when none says).
int local_rank_from_environment();
constexpr int device_for_local_rank(int local_rank, int device_count) {
  return device_count > 0 ? local_rank % device_count : -1;
}

struct DeviceInfo {
  std::string name;
  std::size_t free_bytes = 0, total_bytes = 0;
};
// Makes `device` current for this thread and describes it. Throws qwen3::Error on a CUDA error.
DeviceInfo use_device(int device);

// Device memory, freed on destruction. Throws qwen3::Error (with the bytes) when allocation fails.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }
  void upload(const void* host, std::size_t bytes, std::size_t offset = 0);
  void download(void* host, std::size_t bytes, std::size_t offset = 0) const;
  // `height` runs of `width` bytes, `pitch` apart both on the host and here (from `offset`): rows of
  // several heads of a KV block in one copy.
  void upload_strided(const void* host, std::size_t pitch, std::size_t width, std::size_t height, std::size_t offset);

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

enum class KvElement : std::int32_t { F32 = 0, BF16 = 1 };

// One KV block of one layer in device memory: K and V rows [n_kv_heads][capacity][head_dim] (the
// CPU KvBlock's layout for that layer), and the global position of each of its `size` slots.
struct DeviceKvBlock {
  const void* keys = nullptr;
  const void* values = nullptr;
  const std::int32_t* positions = nullptr;
  std::int32_t size = 0;
  std::int32_t capacity = 0;
};

// Every pointer is a device pointer.
struct DeviceAttentionProblem {
  std::int32_t n_heads = 0, n_kv_heads = 0, head_dim = 0;  // head_dim <= kMaxHeadDim
  float scale = 1.f;
  KvElement kv_element = KvElement::F32;
  std::int32_t n_tokens = 0;
  const float* q = nullptr;                  // [n_tokens][n_heads * head_dim], RoPE applied
  const std::int32_t* positions = nullptr;   // [n_tokens]
  const DeviceKvBlock* blocks = nullptr;     // [n_blocks], in sequence order
  std::int32_t n_blocks = 0;
  float* states = nullptr;                   // [n_heads][n_tokens][head_dim + 2]
  // Decode (few query rows): the blocks are split into this many parts, one partial state each, merged
  // on the device (flash-decoding); 0 chooses enough parts to fill the device.
  std::int32_t kv_splits = 0;
};
inline constexpr std::int32_t kMaxHeadDim = 256;
inline constexpr std::int32_t kMaxGroupSize = 32;  // query heads per KV head

// Whether the kernel takes an attention of this shape: head_dim up to kMaxHeadDim, query heads a
// multiple of the KV heads, up to kMaxGroupSize per KV head.
constexpr bool kernel_takes(std::int64_t head_dim, std::int64_t n_heads, std::int64_t n_kv_heads) {
  return head_dim <= kMaxHeadDim && n_kv_heads > 0 && n_heads % n_kv_heads == 0 && n_heads / n_kv_heads <= kMaxGroupSize;
}

// Scratch the splits need, reused across calls.
class AttentionWorkspace {
 public:
  float* split_states(std::size_t floats);

 private:
  DeviceBuffer buffer_;
};

// Runs the problem on the current device and waits for it. Throws qwen3::Error on a CUDA error or an
// unsupported shape (head_dim over kMaxHeadDim, heads not a multiple of KV heads).
void attend(const DeviceAttentionProblem& p, AttentionWorkspace& workspace);

}  // namespace qwen3::cuda
