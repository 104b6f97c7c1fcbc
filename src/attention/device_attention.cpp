#include "attention/device_attention.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "memory/memory_budget.hpp"
#include "qwen3/error.hpp"
#include "qwen3/online_softmax.hpp"

namespace qwen3 {
namespace {

// Grows `buffer` to at least `bytes` (device allocations are kept across calls).
void ensure(cuda::DeviceBuffer& buffer, std::size_t bytes) {
  if (buffer.bytes() < bytes) buffer = cuda::DeviceBuffer(std::max(bytes, 2 * buffer.bytes()));
}

}  // namespace

DeviceChoice choose_device(std::string_view request) {
  if (request == "cpu") return {-1, "--device cpu"};
  if (request != "auto" && request != "cuda") throw Error("--device " + std::string(request) + ": expected one of auto, cpu, cuda");
  const cuda::DeviceProbe probe = cuda::probe_devices();
  if (probe.count == 0) {
    if (request == "cuda") throw Error("--device cuda: " + probe.why_none);
    return {-1, probe.why_none};
  }
  return {cuda::device_for_local_rank(cuda::local_rank_from_environment(), probe.count), {}};
}

DeviceAttention::DeviceAttention(int device, const KvCacheShape& shape, std::int64_t pool_blocks) : shape_(shape) {
  if (shape.type == KvType::Q8) throw Error("--device cuda: the GPU holds an f32 or bf16 KV cache, not q8 (--kv-type)");
  const cuda::DeviceInfo info = cuda::use_device(device);
  const double pool_bytes = static_cast<double>(slot_bytes()) * static_cast<double>(pool_blocks);
  try {
    pool_ = cuda::DeviceBuffer(slot_bytes() * static_cast<std::size_t>(pool_blocks));
    positions_pool_ = cuda::DeviceBuffer(static_cast<std::size_t>(pool_blocks * shape.block_size) * sizeof(std::int32_t));
  } catch (const Error& e) {
    throw Error("--device cuda: the KV pool (" + std::to_string(pool_blocks) + " blocks of " + std::to_string(shape.block_size) + " tokens, " +
                format_bytes(pool_bytes) + ") does not fit on cuda:" + std::to_string(device) + ": " + e.what());
  }
  for (std::int64_t s = pool_blocks - 1; s >= 0; --s) free_slots_.push_back(s);
  description_ = "cuda:" + std::to_string(device) + " (" + info.name + ", KV pool " + format_bytes(pool_bytes) + ")";
}

std::size_t DeviceAttention::slot_bytes() const {
  return static_cast<std::size_t>(shape_.n_layers * 2 * shape_.n_kv_heads * shape_.block_size) * kv_row_bytes(shape_.type, shape_.head_dim);
}

bool DeviceAttention::can_run(const AttentionProblem& p) const {
  const KvCacheShape& s = p.cache->shape();
  return s.type == shape_.type && s.n_layers == shape_.n_layers && s.n_kv_heads == shape_.n_kv_heads && s.head_dim == shape_.head_dim &&
         s.block_size == shape_.block_size && cuda::kernel_takes(p.head_dim, p.n_heads, p.n_kv_heads);
}

void DeviceAttention::forget_freed_blocks() {
  for (auto it = mirrored_.begin(); it != mirrored_.end();) {
    if (it->second.host.expired()) {
      free_slots_.push_back(it->second.slot);
      it = mirrored_.erase(it);
    } else {
      ++it;
    }
  }
}

const DeviceAttention::MirroredBlock* DeviceAttention::sync(const std::shared_ptr<KvBlock>& block, std::int64_t layer) {
  auto it = mirrored_.find(block.get());
  if (it != mirrored_.end() && it->second.host.lock() != block) {  // a freed block's address, taken by a new one
    free_slots_.push_back(it->second.slot);
    mirrored_.erase(it);
    it = mirrored_.end();
  }
  if (it == mirrored_.end()) {
    if (free_slots_.empty()) return nullptr;
    MirroredBlock m;
    m.host = block;
    m.slot = free_slots_.back();
    free_slots_.pop_back();
    m.rows.assign(static_cast<std::size_t>(shape_.n_layers), 0);
    m.rewrites.assign(static_cast<std::size_t>(shape_.n_layers), 0);
    for (std::int64_t l = 0; l < shape_.n_layers; ++l) m.rewrites[static_cast<std::size_t>(l)] = block->rewrites(l);
    it = mirrored_.emplace(block.get(), std::move(m)).first;
  }
  MirroredBlock& m = it->second;
  const auto l = static_cast<std::size_t>(layer);
  if (m.rewrites[l] != block->rewrites(layer)) {
    m.rows[l] = 0;
    m.rewrites[l] = block->rewrites(layer);
  }
  m.capacity = block->capacity();
  const std::size_t row = kv_row_bytes(shape_.type, shape_.head_dim);
  const std::int64_t first = m.rows[l], size = block->size();
  if (first < size) {
    // Rows [first, size) of every K and V head of the layer: 2 x n_kv_heads runs, capacity rows apart.
    const auto* host = static_cast<const std::byte*>(block->keys(layer, 0).data) + static_cast<std::size_t>(first) * row;
    const std::size_t pitch = static_cast<std::size_t>(m.capacity) * row;
    const std::size_t offset = static_cast<std::size_t>(m.slot) * slot_bytes() + static_cast<std::size_t>(layer * 2 * shape_.n_kv_heads) * pitch +
                               static_cast<std::size_t>(first) * row;
    pool_.upload_strided(host, pitch, static_cast<std::size_t>(size - first) * row, static_cast<std::size_t>(2 * shape_.n_kv_heads), offset);
    m.rows[l] = size;
  }
  const std::span<const std::int32_t> positions = block->positions();
  if (!std::equal(positions.begin(), positions.end(), m.positions.begin(), m.positions.end())) {  // new slots or evictions
    positions_pool_.upload(positions.data(), positions.size_bytes(), static_cast<std::size_t>(m.slot * shape_.block_size) * sizeof(std::int32_t));
    m.positions.assign(positions.begin(), positions.end());
  }
  return &m;
}

void DeviceAttention::run(const AttentionProblem& p) {
  if (!p.states) throw Error("DeviceAttention::run: the GPU returns partial states; the caller normalises them");
  const std::size_t row = kv_row_bytes(shape_.type, shape_.head_dim);
  std::vector<cuda::DeviceKvBlock> table;
  for (const std::shared_ptr<KvBlock>& block : p.cache->blocks()) {
    const MirroredBlock* m = sync(block, p.layer);
    if (!m) {
      forget_freed_blocks();
      m = sync(block, p.layer);
    }
    if (!m) {  // the pool is full: this call runs on the CPU
      if (!pool_full_noted_)
        std::fprintf(stderr, "note: %s: the KV pool is full (blocks kept alive, e.g. by the prefix cache, hold their slots); attention calls "
                             "that need another block run on the CPU\n", description_.c_str());
      pool_full_noted_ = true;
      return streaming_attention(p);
    }
    const std::size_t pitch = static_cast<std::size_t>(m->capacity) * row;
    const auto* keys = static_cast<const std::byte*>(pool_.data()) + static_cast<std::size_t>(m->slot) * slot_bytes() +
                       static_cast<std::size_t>(p.layer * 2 * shape_.n_kv_heads) * pitch;
    table.push_back({keys, keys + static_cast<std::size_t>(shape_.n_kv_heads) * pitch,
                     static_cast<const std::int32_t*>(positions_pool_.data()) + m->slot * shape_.block_size, static_cast<std::int32_t>(block->size()),
                     static_cast<std::int32_t>(m->capacity)});
  }
  const std::int64_t n = p.n_tokens(), D = p.head_dim;
  const std::size_t q_bytes = static_cast<std::size_t>(n * p.n_heads * D) * sizeof(float);
  const std::size_t state_floats = static_cast<std::size_t>(n * p.n_heads * OnlineSoftmaxState::packed_size(D));
  ensure(q_, q_bytes);
  ensure(query_positions_, p.positions.size_bytes());
  ensure(states_, state_floats * sizeof(float));
  ensure(block_table_, std::max<std::size_t>(1, table.size()) * sizeof(cuda::DeviceKvBlock));
  q_.upload(p.q, q_bytes);
  query_positions_.upload(p.positions.data(), p.positions.size_bytes());
  block_table_.upload(table.data(), table.size() * sizeof(cuda::DeviceKvBlock));

  cuda::DeviceAttentionProblem d;
  d.n_heads = static_cast<std::int32_t>(p.n_heads);
  d.n_kv_heads = static_cast<std::int32_t>(p.n_kv_heads);
  d.head_dim = static_cast<std::int32_t>(D);
  d.scale = p.scale;
  d.kv_element = shape_.type == KvType::BF16 ? cuda::KvElement::BF16 : cuda::KvElement::F32;
  d.n_tokens = static_cast<std::int32_t>(n);
  d.q = static_cast<const float*>(q_.data());
  d.positions = static_cast<const std::int32_t*>(query_positions_.data());
  d.blocks = static_cast<const cuda::DeviceKvBlock*>(block_table_.data());
  d.n_blocks = static_cast<std::int32_t>(table.size());
  d.states = static_cast<float*>(states_.data());
  cuda::attend(d, workspace_);
  states_.download(p.states, state_floats * sizeof(float));
}

}  // namespace qwen3
