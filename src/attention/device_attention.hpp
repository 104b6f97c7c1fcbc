#pragma once
// Attention on this rank's GPU (--device; cuda/ has the kernels). The KV blocks of this rank's caches
// are mirrored in a pool of device memory allocated at start-up; each call copies only what changed
// since the last one (a layer's newly filled rows, changed positions, and a layer's rows again after
// a block was truncated, compacted, reused or had its sink keys re-rotated: KvBlock::rewrites), then
// q and the query positions go to the device and the packed (m, l, o) states come back, head-major
// as streaming_attention writes them. So the state merges across ranks, the reduce-scatter and the
// output normalisation stay as they are, and GPU ranks and CPU ranks join in one job.
//
// What it does not run (can_run false; the CPU's path runs it instead): a Q8 KV cache, head_dim over
// cuda::kMaxHeadDim, more query heads per KV head than the kernel takes, and a call when the pool has
// no block left. Runtime::set_up_device keeps the standard path and the h2o policy (whose per-key
// attention mass is the CPU kernel's) off the GPU.
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "attention/attention.hpp"
#include "cuda/cuda_sdpa.hpp"

namespace qwen3 {

// --device auto|cpu|cuda for this rank: the device it takes (local rank mod the devices it sees), or
// -1 with the reason it runs on the CPU. Throws qwen3::Error for cuda where there is no device.
struct DeviceChoice {
  int device = -1;
  std::string why_cpu;  // "--device cpu", or the probe's "no CUDA device (...)"
};
DeviceChoice choose_device(std::string_view request);

class DeviceAttention {
 public:
  // Makes `device` current and allocates room for `pool_blocks` blocks of `shape` (all layers).
  // Throws qwen3::Error (one line, with the bytes) when the device lacks them.
  DeviceAttention(int device, const KvCacheShape& shape, std::int64_t pool_blocks);
  const std::string& describe() const { return description_; }  // "cuda:0 (NVIDIA H200, KV pool 4.50 GiB)"

  bool can_run(const AttentionProblem& p) const;
  void run(const AttentionProblem& p);

 private:
  struct MirroredBlock {
    std::weak_ptr<KvBlock> host;
    std::int64_t slot = 0;          // its place in the pool
    std::int64_t capacity = 0;      // the host block's, when last copied
    std::vector<std::int64_t> rows;         // per layer: slots copied
    std::vector<std::uint32_t> rewrites;    // per layer: KvBlock::rewrites when copied
    std::vector<std::int32_t> positions;    // as copied
  };

  // The device block of `block` for `layer`, its changes copied first; nullptr when the pool is full.
  const MirroredBlock* sync(const std::shared_ptr<KvBlock>& block, std::int64_t layer);
  void forget_freed_blocks();
  std::size_t slot_bytes() const;

  KvCacheShape shape_;
  std::string description_;
  cuda::DeviceBuffer pool_, positions_pool_;
  std::vector<std::int64_t> free_slots_;
  std::unordered_map<const KvBlock*, MirroredBlock> mirrored_;
  cuda::DeviceBuffer q_, query_positions_, states_, block_table_;
  cuda::AttentionWorkspace workspace_;
  bool pool_full_noted_ = false;  // the note that calls fell back to the CPU, once
};

}  // namespace qwen3
