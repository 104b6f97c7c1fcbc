#include "kv/kv_cache.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/convert.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {

std::size_t kv_element_size(KvType t) { return t == KvType::F32 ? 4 : 2; }

KvBlock::KvBlock(const KvCacheShape& shape, std::int64_t index)
    : shape_(&shape),
      index_(index),
      bytes_(static_cast<std::size_t>(shape.n_layers * 2 * shape.n_kv_heads * shape.block_size * shape.head_dim) *
             kv_element_size(shape.type)),
      data_(bytes_) {
  positions_.reserve(static_cast<std::size_t>(shape.block_size));
}

std::size_t KvBlock::offset(std::int64_t layer, std::int64_t kv_head, int kind) const {
  const KvCacheShape& s = *shape_;
  const std::int64_t rows = ((layer * 2 + kind) * s.n_kv_heads + kv_head) * s.block_size;
  return static_cast<std::size_t>(rows * s.head_dim) * kv_element_size(s.type);
}

std::int64_t KvBlock::add_slot(std::int32_t position) {
  if (positions_.empty()) {
    min_pos_ = max_pos_ = position;
  } else {
    min_pos_ = std::min(min_pos_, position);
    max_pos_ = std::max(max_pos_, position);
  }
  positions_.push_back(position);
  return size() - 1;
}

void KvBlock::drop_slots_from(std::int64_t slot) {
  positions_.resize(static_cast<std::size_t>(slot));
  if (!positions_.empty()) {
    min_pos_ = *std::min_element(positions_.begin(), positions_.end());
    max_pos_ = *std::max_element(positions_.begin(), positions_.end());
  }
}

void KvBlock::store(std::int64_t layer, std::int64_t slot, const float* k, const float* v) {
  const KvCacheShape& s = *shape_;
  for (int kind = 0; kind < 2; ++kind) {
    const float* src = kind == 0 ? k : v;
    for (std::int64_t h = 0; h < s.n_kv_heads; ++h) {
      std::byte* dst = data_.data() + offset(layer, h, kind) + static_cast<std::size_t>(slot * s.head_dim) * kv_element_size(s.type);
      const float* row = src + h * s.head_dim;
      if (s.type == KvType::F32) {
        std::memcpy(dst, row, static_cast<std::size_t>(s.head_dim) * sizeof(float));
      } else {
        auto* out = reinterpret_cast<std::uint16_t*>(dst);
        for (std::int64_t d = 0; d < s.head_dim; ++d) out[d] = kernels::f32_to_bf16(row[d]);
      }
    }
  }
}

KvCache::KvCache(const KvCacheShape& shape, std::int64_t capacity_tokens, KvBlockOwner owner)
    : shape_(std::make_unique<KvCacheShape>(shape)), capacity_(capacity_tokens), owner_(owner) {
  if (owner_.members < 1 || owner_.member < 0 || owner_.member >= owner_.members)
    throw Error("KV cache member " + std::to_string(owner_.member) + " of " + std::to_string(owner_.members));
}

std::int64_t KvCache::local_size() const {
  std::int64_t n = 0;
  for (const auto& blk : blocks_) n += blk->size();
  return n;
}

std::vector<KvSlot> KvCache::append(std::span<const std::int32_t> positions) {
  if (n_tokens_ + static_cast<std::int64_t>(positions.size()) > capacity_) {
    throw Error("context full: " + std::to_string(n_tokens_) + " tokens cached + " + std::to_string(positions.size()) +
                " new > context length " + std::to_string(capacity_) + " (raise -c)");
  }
  std::vector<KvSlot> slots;
  slots.reserve(positions.size());
  std::int64_t t = n_tokens_;
  for (std::int32_t pos : positions) {
    const std::int64_t index = t++ / shape_->block_size;
    if (!owner_.owns(index)) {
      slots.push_back({-1, -1});
      continue;
    }
    if (blocks_.empty() || blocks_.back()->index() != index) blocks_.push_back(std::make_unique<KvBlock>(*shape_, index));
    const auto slot = blocks_.back()->add_slot(pos);
    slots.push_back({static_cast<std::int32_t>(blocks_.size() - 1), static_cast<std::int32_t>(slot)});
  }
  n_tokens_ += static_cast<std::int64_t>(positions.size());
  peak_bytes_ = std::max(peak_bytes_, bytes());
  return slots;
}

void KvCache::store(std::int64_t layer, std::span<const KvSlot> slots, const float* k, const float* v) {
  const std::int64_t row = shape_->n_kv_heads * shape_->head_dim;
  for (std::size_t t = 0; t < slots.size(); ++t) {
    if (slots[t].block < 0) continue;
    blocks_[static_cast<std::size_t>(slots[t].block)]->store(layer, slots[t].slot, k + static_cast<std::int64_t>(t) * row,
                                                            v + static_cast<std::int64_t>(t) * row);
  }
}

std::size_t KvCache::bytes() const {
  std::size_t b = 0;
  for (const auto& blk : blocks_) b += blk->bytes();
  return b;
}

void KvCache::truncate(std::int64_t n_tokens) {
  n_tokens_ = std::clamp<std::int64_t>(n_tokens, 0, n_tokens_);
  // Block i holds the sequence's tokens [i*block_size, i*block_size + size()).
  std::size_t b = 0;
  for (; b < blocks_.size(); ++b) {
    const std::int64_t first = blocks_[b]->index() * shape_->block_size;
    if (first >= n_tokens_) break;
    blocks_[b]->drop_slots_from(std::min(blocks_[b]->size(), n_tokens_ - first));
  }
  blocks_.resize(b);
}

void KvCache::clear() {
  blocks_.clear();
  n_tokens_ = 0;
}

}  // namespace qwen3
