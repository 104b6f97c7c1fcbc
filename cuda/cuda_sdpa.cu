// Attention of query rows against the KV blocks a rank's GPU holds, as attention/streaming.cpp does it
// on the CPU: online softmax over the keys in chunks, one packed (m, l, o) state per row, head-major.
//
// One CTA per (KV head, tile of query tokens, split of the blocks). Its rows are every (token, query
// head) pair of the tile whose head reads that KV head (GQA: the group shares each K/V chunk it
// stages), at most kRowsPerCta, kRowsPerWarp per warp. Per chunk of 32 keys staged in shared memory,
// lane j scores key j against a row (no shuffles in the dot product; K rows padded by one float so
// the 32 lanes hit 32 banks), the warp updates the row's (m, l) and each lane its head_dim / 32 dims of
// o. Decode has few rows, so the blocks are split over CTAs to fill the device (flash-decoding,
// arXiv 2311.01282) and the splits' states merged by a second kernel, exactly as merge() does.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_sdpa.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kChunk = 32;  // keys per shared-memory stage: one per lane
constexpr int kRowsPerWarp = 4;
constexpr int kRowsPerCta = kWarps * kRowsPerWarp;
static_assert(kRowsPerCta >= kMaxGroupSize, "a CTA holds at least one token's whole GQA group");
constexpr int kDimsPerLane = kMaxHeadDim / 32;
constexpr int kMaxGridYZ = 65535;  // CUDA's limit on a grid's y and z

__device__ float to_float(float x) { return x; }
__device__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

__device__ float warp_max(float x) {
  for (int offset = 16; offset > 0; offset /= 2) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
  return x;
}

__device__ float warp_sum(float x) {
  for (int offset = 16; offset > 0; offset /= 2) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

std::size_t shared_bytes(int head_dim) {
  return sizeof(float) * (static_cast<std::size_t>(kRowsPerCta) * head_dim + static_cast<std::size_t>(kChunk) * (head_dim + 1) +
                          static_cast<std::size_t>(kChunk) * head_dim) +
         sizeof(int) * (kChunk + kRowsPerCta);
}

// out: [splits][n_heads][n_tokens][head_dim + 2]; split z covers blocks [n_blocks z / splits, n_blocks (z+1) / splits).
template <typename KvT>
__global__ void __launch_bounds__(kThreads) attend_rows(DeviceAttentionProblem p, int tokens_per_cta, int splits, float* out) {
  extern __shared__ float shared[];
  const int D = p.head_dim, group = p.n_heads / p.n_kv_heads;
  const int kv_head = blockIdx.x, t0 = blockIdx.y * tokens_per_cta, split = blockIdx.z;
  const int n_rows = min(tokens_per_cta, p.n_tokens - t0) * group;  // row r: token t0 + r / group, head kv_head * group + r % group
  float* q_s = shared;                      // [kRowsPerCta][D]
  float* k_s = q_s + kRowsPerCta * D;       // [kChunk][D + 1]
  float* v_s = k_s + kChunk * (D + 1);      // [kChunk][D]
  int* key_pos = reinterpret_cast<int*>(v_s + kChunk * D);  // [kChunk]
  int* query_pos = key_pos + kChunk;                         // [kRowsPerCta]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  for (int i = threadIdx.x; i < n_rows * D; i += kThreads) {
    const int r = i / D, d = i % D;
    const long long t = t0 + r / group, h = kv_head * group + r % group;
    q_s[i] = p.q[(t * p.n_heads + h) * D + d];
  }
  for (int r = threadIdx.x; r < n_rows; r += kThreads) query_pos[r] = p.positions[t0 + r / group];

  float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][kDimsPerLane];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int k = 0; k < kDimsPerLane; ++k) o[i][k] = 0.f;
  }
  __syncthreads();

  const int b0 = static_cast<int>(static_cast<long long>(p.n_blocks) * split / splits);
  const int b1 = static_cast<int>(static_cast<long long>(p.n_blocks) * (split + 1) / splits);
  for (int b = b0; b < b1; ++b) {
    const DeviceKvBlock block = p.blocks[b];
    const long long head_offset = static_cast<long long>(kv_head) * block.capacity * D;
    const KvT* keys = static_cast<const KvT*>(block.keys) + head_offset;
    const KvT* values = static_cast<const KvT*>(block.values) + head_offset;
    for (int c = 0; c < block.size; c += kChunk) {
      const int n = min(kChunk, block.size - c);
      for (int i = threadIdx.x; i < kChunk * D; i += kThreads) {
        const int j = i / D, d = i % D;
        const bool present = j < n;
        k_s[j * (D + 1) + d] = present ? to_float(keys[static_cast<long long>(c + j) * D + d]) : 0.f;
        v_s[j * D + d] = present ? to_float(values[static_cast<long long>(c + j) * D + d]) : 0.f;
      }
      // An absent or evicted slot (INT_MAX) is after every query: never visible.
      if (threadIdx.x < kChunk) key_pos[threadIdx.x] = static_cast<int>(threadIdx.x) < n ? block.positions[c + threadIdx.x] : INT_MAX;
      __syncthreads();
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) {
        const int r = warp + i * kWarps;
        if (r >= n_rows) break;  // the same for the whole warp
        const float* q_row = q_s + r * D;
        const float* k_row = k_s + lane * (D + 1);
        float s = 0.f;
        for (int d = 0; d < D; ++d) s += q_row[d] * k_row[d];
        s *= p.scale;
        const bool visible = key_pos[lane] <= query_pos[r];
        s = visible ? s : -INFINITY;
        const float chunk_max = warp_max(s);
        if (chunk_max == -INFINITY) continue;  // no key of this chunk is visible to the row
        const float m_new = fmaxf(m[i], chunk_max);
        const float weight = visible ? expf(s - m_new) : 0.f;
        const float rescale = expf(m[i] - m_new);  // 0 while the row had seen no key
        l[i] = l[i] * rescale + warp_sum(weight);
#pragma unroll
        for (int k = 0; k < kDimsPerLane; ++k) o[i][k] *= rescale;
        for (int j = 0; j < n; ++j) {
          const float w = __shfl_sync(0xffffffffu, weight, j);
#pragma unroll
          for (int k = 0; k < kDimsPerLane; ++k) {
            const int d = lane + 32 * k;
            if (d < D) o[i][k] += w * v_s[j * D + d];
          }
        }
        m[i] = m_new;
      }
      __syncthreads();
    }
  }

#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int r = warp + i * kWarps;
    if (r >= n_rows) break;
    const long long t = t0 + r / group, h = kv_head * group + r % group;
    float* state = out + ((static_cast<long long>(split) * p.n_heads + h) * p.n_tokens + t) * (D + 2);
    if (lane == 0) {
      state[0] = m[i];
      state[1] = l[i];
    }
#pragma unroll
    for (int k = 0; k < kDimsPerLane; ++k) {
      const int d = lane + 32 * k;
      if (d < D) state[2 + d] = o[i][k];
    }
  }
}

// One warp per row: the splits' states of the row merged as merge() merges two (online_softmax.hpp).
__global__ void merge_splits(const float* split_states, int splits, long long rows, int head_dim, float* out) {
  const long long row = static_cast<long long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int width = head_dim + 2;
  float m = -INFINITY;
  for (int s = 0; s < splits; ++s) m = fmaxf(m, split_states[(s * rows + row) * width]);
  float* into = out + row * width;
  float l = 0.f;
  for (int d = lane; d < head_dim; d += 32) into[2 + d] = 0.f;
  for (int s = 0; s < splits; ++s) {
    const float* from = split_states + (s * rows + row) * width;
    if (from[0] == -INFINITY) continue;  // the empty state adds nothing
    const float w = expf(from[0] - m);
    l += w * from[1];
    for (int d = lane; d < head_dim; d += 32) into[2 + d] += w * from[2 + d];
  }
  if (lane == 0) {
    into[0] = m;
    into[1] = l;
  }
}

template <typename KvT>
void launch_rows(const DeviceAttentionProblem& p, dim3 grid, int tokens_per_cta, int splits, float* out) {
  const std::size_t bytes = shared_bytes(p.head_dim);
  check(cudaFuncSetAttribute(attend_rows<KvT>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
        "raising the attention kernel's shared memory");
  attend_rows<KvT><<<grid, kThreads, bytes>>>(p, tokens_per_cta, splits, out);
  check(cudaGetLastError(), "launching the attention kernel");
}

}  // namespace

float* AttentionWorkspace::split_states(std::size_t floats) {
  if (buffer_.bytes() < floats * sizeof(float)) buffer_ = DeviceBuffer(floats * sizeof(float));
  return static_cast<float*>(buffer_.data());
}

void attend(const DeviceAttentionProblem& p, AttentionWorkspace& workspace) {
  if (p.head_dim < 1 || p.head_dim > kMaxHeadDim)
    throw Error("CUDA attention: head_dim " + std::to_string(p.head_dim) + " is outside 1.." + std::to_string(kMaxHeadDim));
  if (p.n_kv_heads < 1 || p.n_heads % p.n_kv_heads != 0 || p.n_heads / p.n_kv_heads > kRowsPerCta)
    throw Error("CUDA attention: " + std::to_string(p.n_heads) + " query heads over " + std::to_string(p.n_kv_heads) +
                " KV heads (at most " + std::to_string(kRowsPerCta) + " per KV head)");
  if (p.n_tokens == 0) return;
  const int group = p.n_heads / p.n_kv_heads;
  const int tokens_per_cta = std::max(1, kRowsPerCta / group);
  const int tiles = (p.n_tokens + tokens_per_cta - 1) / tokens_per_cta;
  if (tiles > kMaxGridYZ)
    throw Error("CUDA attention: " + std::to_string(p.n_tokens) + " query tokens in one call is more than the grid takes (" +
                std::to_string(kMaxGridYZ * tokens_per_cta) + ")");
  int splits = p.kv_splits;
  if (splits <= 0) {  // about four CTAs per multiprocessor
    int device = 0, sms = 1;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    const long long base = static_cast<long long>(p.n_kv_heads) * tiles;
    splits = static_cast<int>(std::min<long long>((4LL * sms + base - 1) / base, kMaxGridYZ));
  }
  splits = std::clamp(splits, 1, std::clamp(p.n_blocks, 1, kMaxGridYZ));
  const long long rows = static_cast<long long>(p.n_heads) * p.n_tokens;
  float* out = splits == 1 ? p.states : workspace.split_states(static_cast<std::size_t>(splits * rows * (p.head_dim + 2)));
  const dim3 grid(static_cast<unsigned>(p.n_kv_heads), static_cast<unsigned>(tiles), static_cast<unsigned>(splits));
  if (p.kv_element == KvElement::BF16) launch_rows<__nv_bfloat16>(p, grid, tokens_per_cta, splits, out);
  else launch_rows<float>(p, grid, tokens_per_cta, splits, out);
  if (splits > 1) {
    constexpr int kRowsPerMergeCta = 4;
    merge_splits<<<static_cast<unsigned>((rows + kRowsPerMergeCta - 1) / kRowsPerMergeCta), 32 * kRowsPerMergeCta>>>(out, splits, rows, p.head_dim,
                                                                                                                   p.states);
    check(cudaGetLastError(), "launching the split merge");
  }
  check(cudaDeviceSynchronize(), "attention");
}

}  // namespace qwen3::cuda
