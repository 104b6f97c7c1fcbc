#include "kv/kv_cache.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/convert.hpp"
#include "kernels/q8.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {

std::size_t kv_element_size(KvType t) { return t == KvType::F32 ? 4 : t == KvType::BF16 ? 2 : 1; }

std::size_t kv_row_bytes(KvType t, std::int64_t head_dim) {
  return static_cast<std::size_t>(head_dim) * kv_element_size(t) + (t == KvType::Q8 ? sizeof(float) : 0);
}

namespace {
std::size_t block_bytes(const KvCacheShape& s, std::int64_t capacity) {
  return static_cast<std::size_t>(s.n_layers * 2 * s.n_kv_heads * capacity) * kv_row_bytes(s.type, s.head_dim);
}
}  // namespace

KvBlock::KvBlock(const KvCacheShape& shape, std::int64_t index)
    : shape_(shape), index_(index), capacity_(shape.block_size), bytes_(block_bytes(shape, capacity_)), data_(bytes_, "KV"),
      rewrites_(static_cast<std::size_t>(shape.n_layers)) {
  positions_.reserve(static_cast<std::size_t>(shape.block_size));
}

void KvBlock::count_rewrite_of_every_layer() {
  for (auto& n : rewrites_) ++n;
}

std::size_t KvBlock::offset(std::int64_t layer, std::int64_t kv_head, int kind) const {
  const KvCacheShape& s = shape_;
  const std::int64_t rows = ((layer * 2 + kind) * s.n_kv_heads + kv_head) * capacity_;
  return static_cast<std::size_t>(rows * s.head_dim) * kv_element_size(s.type);
}

std::size_t KvBlock::scales_offset(std::int64_t layer, std::int64_t kv_head, int kind) const {
  const KvCacheShape& s = shape_;
  const std::size_t all_rows = static_cast<std::size_t>(s.n_layers * 2 * s.n_kv_heads * capacity_ * s.head_dim);  // 1 byte each
  const std::int64_t rows = ((layer * 2 + kind) * s.n_kv_heads + kv_head) * capacity_;
  return all_rows + static_cast<std::size_t>(rows) * sizeof(float);
}

kernels::KvRows KvBlock::rows(std::int64_t layer, std::int64_t kv_head, int kind) const {
  const float* scales =
      shape_.type == KvType::Q8 ? reinterpret_cast<const float*>(data_.data() + scales_offset(layer, kv_head, kind)) : nullptr;
  return {data_.data() + offset(layer, kv_head, kind), shape_.type, scales};
}

std::int64_t KvBlock::add_slot(std::int64_t token, std::int32_t position) {
  if (positions_.empty()) {
    min_pos_ = max_pos_ = position;
  } else {
    min_pos_ = std::min(min_pos_, position);
    max_pos_ = std::max(max_pos_, position);
  }
  positions_.push_back(position);
  tokens_.push_back(token);
  ++live_;
  return size() - 1;
}

void KvBlock::update_bounds() {
  if (positions_.empty()) return;
  min_pos_ = *std::min_element(positions_.begin(), positions_.end());
  max_pos_ = *std::max_element(positions_.begin(), positions_.end());
}

void KvBlock::drop_slots_from(std::int64_t slot) {
  for (auto s = static_cast<std::size_t>(slot); s < positions_.size(); ++s) live_ -= positions_[s] != kEvicted;
  positions_.resize(static_cast<std::size_t>(slot));
  tokens_.resize(static_cast<std::size_t>(slot));
  update_bounds();
  count_rewrite_of_every_layer();
}

bool KvBlock::evict(std::int64_t token) {
  for (std::size_t s = 0; s < tokens_.size(); ++s) {
    if (tokens_[s] != token || positions_[s] == kEvicted) continue;
    positions_[s] = kEvicted;
    --live_;
    update_bounds();
    return true;
  }
  return false;
}

void KvBlock::compact() {
  // The live rows move into a buffer of just their size: policies that keep scattered tokens (l2,
  // random) leave a few live tokens in many blocks, and full-size blocks made their memory grow to
  // budget x block_size tokens (7.2 MB of KV for l2 at a budget of 64 on the default model, against
  // 0.44 MB for sink-window; bench/streaming_eval.py).
  const KvCacheShape& sh = shape_;
  const std::size_t row = static_cast<std::size_t>(sh.head_dim) * kv_element_size(sh.type);
  const std::int64_t old_capacity = capacity_;
  const std::size_t old_scales = scales_offset(0, 0, 0);  // Q8: where the old buffer's scales start
  std::vector<std::size_t> live_slots;
  for (std::size_t s = 0; s < positions_.size(); ++s)
    if (positions_[s] != kEvicted) live_slots.push_back(s);
  PageBuffer old = std::move(data_);
  capacity_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(live_slots.size()));
  bytes_ = block_bytes(sh, capacity_);
  data_ = PageBuffer(bytes_, "KV");
  for (std::int64_t layer = 0; layer < sh.n_layers; ++layer)
    for (int kind = 0; kind < 2; ++kind)
      for (std::int64_t h = 0; h < sh.n_kv_heads; ++h) {
        const std::int64_t rows = (layer * 2 + kind) * sh.n_kv_heads + h;
        const std::byte* from = old.data() + static_cast<std::size_t>(rows * old_capacity) * row;
        std::byte* to = data_.data() + offset(layer, h, kind);
        for (std::size_t i = 0; i < live_slots.size(); ++i) std::memcpy(to + i * row, from + live_slots[i] * row, row);
        if (sh.type != KvType::Q8) continue;
        const auto* from_scales = reinterpret_cast<const float*>(old.data() + old_scales + static_cast<std::size_t>(rows * old_capacity) * sizeof(float));
        auto* to_scales = reinterpret_cast<float*>(data_.data() + scales_offset(layer, h, kind));
        for (std::size_t i = 0; i < live_slots.size(); ++i) to_scales[i] = from_scales[live_slots[i]];
      }
  for (std::size_t i = 0; i < live_slots.size(); ++i) {
    positions_[i] = positions_[live_slots[i]];
    tokens_[i] = tokens_[live_slots[i]];
  }
  positions_.resize(live_slots.size());
  tokens_.resize(live_slots.size());
  sealed_ = true;
  update_bounds();
  count_rewrite_of_every_layer();
}

void KvBlock::reuse(std::int64_t index) {
  if (capacity_ != shape_.block_size) {  // a compacted block grows back to a whole one
    capacity_ = shape_.block_size;
    bytes_ = block_bytes(shape_, capacity_);
    data_ = PageBuffer(bytes_, "KV");
  }
  index_ = index;
  positions_.clear();
  tokens_.clear();
  live_ = 0;
  sealed_ = false;
  count_rewrite_of_every_layer();
}

std::shared_ptr<KvBlock> KvBlock::clone() const {
  auto copy = std::make_shared<KvBlock>(shape_, index_);
  if (capacity_ != copy->capacity_) {
    copy->capacity_ = capacity_;
    copy->bytes_ = bytes_;
    copy->data_ = PageBuffer(bytes_, "KV");
  }
  std::memcpy(copy->data_.data(), data_.data(), bytes_);
  copy->positions_ = positions_;
  copy->tokens_ = tokens_;
  copy->live_ = live_;
  copy->sealed_ = sealed_;
  copy->min_pos_ = min_pos_;
  copy->max_pos_ = max_pos_;
  copy->rewrites_ = rewrites_;
  return copy;
}

void KvBlock::write_rows(std::int64_t layer, std::int64_t slot, int kind, const float* src) {
  const KvCacheShape& s = shape_;
  for (std::int64_t h = 0; h < s.n_kv_heads; ++h) {
    std::byte* dst = data_.data() + offset(layer, h, kind) + static_cast<std::size_t>(slot * s.head_dim) * kv_element_size(s.type);
    const float* row = src + h * s.head_dim;
    if (s.type == KvType::F32) {
      std::memcpy(dst, row, static_cast<std::size_t>(s.head_dim) * sizeof(float));
    } else if (s.type == KvType::Q8) {
      auto* scale = reinterpret_cast<float*>(data_.data() + scales_offset(layer, h, kind)) + slot;
      kernels::quantize_kv_row(row, s.head_dim, reinterpret_cast<std::int8_t*>(dst), scale);
    } else {
      auto* out = reinterpret_cast<std::uint16_t*>(dst);
      for (std::int64_t d = 0; d < s.head_dim; ++d) out[d] = kernels::f32_to_bf16(row[d]);
    }
  }
}

void KvBlock::store(std::int64_t layer, std::int64_t slot, const float* k, const float* v) {
  write_rows(layer, slot, 0, k);
  write_rows(layer, slot, 1, v);
}

KvCache::KvCache(const KvCacheShape& shape, std::int64_t capacity_tokens, KvBlockOwner owner)
    : shape_(shape), capacity_(capacity_tokens), owner_(owner) {
  if (owner_.members < 1 || owner_.member < 0 || owner_.member >= owner_.members)
    throw Error("KV cache member " + std::to_string(owner_.member) + " of " + std::to_string(owner_.members));
}

std::int64_t KvCache::local_size() const {
  std::int64_t n = 0;
  for (const auto& blk : blocks_) n += blk->size();
  return n;
}

KvBlock* KvCache::take_block(std::int64_t index) {
  if (free_.empty()) {
    blocks_.push_back(std::make_shared<KvBlock>(shape_, index));
  } else {
    blocks_.push_back(std::move(free_.back()));
    free_.pop_back();
    blocks_.back()->reuse(index);
  }
  return blocks_.back().get();
}

KvBlock& KvCache::writable(std::size_t b) {
  if (blocks_[b].use_count() > 1) blocks_[b] = blocks_[b]->clone();
  return *blocks_[b];
}

void KvCache::release(std::shared_ptr<KvBlock> blk) {
  if (blk.use_count() == 1) free_.push_back(std::move(blk));
}

void KvCache::share_prefix(std::int64_t n_tokens, std::span<const std::shared_ptr<KvBlock>> held) {
  const std::int64_t bs = shape_.block_size;
  if (n_tokens_ != 0 || n_tokens % bs != 0 || n_tokens > capacity_)
    throw Error("share_prefix: " + std::to_string(n_tokens) + " tokens into a cache holding " + std::to_string(n_tokens_));
  std::size_t next = 0;
  for (std::int64_t index = 0; index < n_tokens / bs; ++index) {
    if (!owner_.owns(index)) continue;
    if (next >= held.size() || held[next]->index() != index || held[next]->size() != bs || held[next]->live() != bs)
      throw Error("share_prefix: block " + std::to_string(index) + " is not a full block of the prefix");
    blocks_.push_back(held[next++]);
  }
  if (next != held.size()) throw Error("share_prefix: more blocks than the prefix holds here");
  n_tokens_ = n_tokens;
}

std::size_t KvCache::position_of(std::int64_t index) const {
  // Blocks are kept in sequence order.
  const auto it = std::lower_bound(blocks_.begin(), blocks_.end(), index, [](const auto& b, std::int64_t i) { return b->index() < i; });
  return it != blocks_.end() && (*it)->index() == index ? static_cast<std::size_t>(it - blocks_.begin()) : blocks_.size();
}

std::shared_ptr<KvBlock> KvCache::full_block(std::int64_t index) const {
  const std::size_t b = position_of(index);
  if (b == blocks_.size() || blocks_[b]->size() != shape_.block_size || blocks_[b]->live() != shape_.block_size) return nullptr;
  return blocks_[b];
}

void KvCache::evict(std::int64_t token) {
  if (token < 0 || token >= n_tokens_) throw Error("evict: token " + std::to_string(token) + " was never appended");
  ++n_evicted_;
  const std::int64_t index = token / shape_.block_size;
  if (!owner_.owns(index)) return;
  const std::size_t b = position_of(index);
  if (b == blocks_.size() || !writable(b).evict(token)) throw Error("evict: token " + std::to_string(token) + " is not held live here");
  const auto it = blocks_.begin() + static_cast<std::ptrdiff_t>(b);
  KvBlock& blk = **it;
  const bool filling = &blk == blocks_.back().get() && !blk.full();
  if (blk.live() == 0 && !filling) {
    release(std::move(*it));
    blocks_.erase(it);
  } else if (!filling && 2 * blk.live() <= blk.size()) {
    blk.compact();
  }
}

std::vector<float> KvCache::take_key_norms(std::int64_t first, std::int64_t n) {
  std::vector<float> out(static_cast<std::size_t>(n), 0.f);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto it = key_norms_.find(first + i);
    if (it == key_norms_.end()) continue;
    out[static_cast<std::size_t>(i)] = it->second;
    key_norms_.erase(it);
  }
  return out;
}

void KvCache::add_key_mass(std::span<const float> per_slot) {
  if (static_cast<std::int64_t>(per_slot.size()) != local_size())
    throw Error("attention mass of " + std::to_string(per_slot.size()) + " slots for a cache holding " + std::to_string(local_size()));
  std::size_t at = 0;
  for (const auto& blk : blocks_) {
    const auto tokens = blk->tokens();
    const auto pos = blk->positions();
    for (std::size_t s = 0; s < tokens.size(); ++s, ++at)
      if (pos[s] != KvBlock::kEvicted) key_mass_[tokens[s]] += per_slot[at];
  }
}

std::vector<float> KvCache::take_key_mass(std::span<const std::int64_t> tokens) {
  std::vector<float> out(tokens.size(), 0.f);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto it = key_mass_.find(tokens[i]);
    if (it != key_mass_.end()) out[i] = it->second;
  }
  key_mass_.clear();
  return out;
}

void KvCache::set_sinks(std::int64_t count, std::int32_t shift) {
  if (count != n_sinks_) {
    n_sinks_ = count;
    const auto rows = static_cast<std::size_t>(count * shape_.n_kv_heads * shape_.head_dim);
    sink_keys_.assign(static_cast<std::size_t>(shape_.n_layers), std::vector<float>(rows, 0.f));
    sink_shift_applied_.assign(static_cast<std::size_t>(shape_.n_layers), 0);
  }
  sink_shift_ = shift;
}

bool KvCache::sinks_stale(std::int64_t layer) const {
  return n_sinks_ > 0 && sink_shift_applied_[static_cast<std::size_t>(layer)] != sink_shift_ && !blocks_.empty() &&
         blocks_.front()->index() * shape_.block_size < n_sinks_;
}

std::span<const float> KvCache::sink_keys(std::int64_t layer) const { return sink_keys_[static_cast<std::size_t>(layer)]; }

void KvCache::write_sink_keys(std::int64_t layer, const float* rotated) {
  const std::int64_t row = shape_.n_kv_heads * shape_.head_dim;
  for (std::size_t b = 0; b < blocks_.size() && blocks_[b]->index() * shape_.block_size < n_sinks_; ++b) {
    KvBlock& blk = writable(b);
    const auto tokens = blk.tokens();
    for (std::size_t s = 0; s < tokens.size(); ++s) {
      if (tokens[s] >= n_sinks_ || blk.positions()[s] == KvBlock::kEvicted) continue;
      blk.store_keys(layer, static_cast<std::int64_t>(s), rotated + tokens[s] * row);
    }
  }
  sink_shift_applied_[static_cast<std::size_t>(layer)] = sink_shift_;
}

void KvCache::check_room(std::int64_t n_new) const {
  if (size() + n_new > capacity_)
    throw Error("context full: " + std::to_string(size()) + " tokens cached + " + std::to_string(n_new) + " new > context length " +
                std::to_string(capacity_) + " (raise -c)");
}

std::vector<KvSlot> KvCache::append(std::span<const std::int32_t> positions) {
  check_room(static_cast<std::int64_t>(positions.size()));
  std::vector<KvSlot> slots;
  slots.reserve(positions.size());
  std::int64_t t = n_tokens_;
  for (std::int32_t pos : positions) {
    const std::int64_t index = t++ / shape_.block_size;
    const std::int64_t token = t - 1;
    if (!owner_.owns(index)) {
      slots.push_back({-1, -1, token});
      continue;
    }
    if (blocks_.empty() || blocks_.back()->index() != index) take_block(index);
    const auto slot = blocks_.back()->add_slot(token, pos);
    slots.push_back({static_cast<std::int32_t>(blocks_.size() - 1), static_cast<std::int32_t>(slot), token});
  }
  n_tokens_ += static_cast<std::int64_t>(positions.size());
  peak_bytes_ = std::max(peak_bytes_, bytes());
  return slots;
}

void KvCache::store(std::int64_t layer, std::span<const KvSlot> slots, const float* k, const float* v) {
  const std::int64_t row = shape_.n_kv_heads * shape_.head_dim;
  for (std::size_t t = 0; t < slots.size(); ++t) {
    if (slots[t].block < 0) continue;
    if (track_norms_) {
      float& sum = key_norms_[slots[t].token];
      for (std::int64_t h = 0; h < shape_.n_kv_heads; ++h) {
        const float* kh = k + static_cast<std::int64_t>(t) * row + h * shape_.head_dim;
        double sq = 0;
        for (std::int64_t d = 0; d < shape_.head_dim; ++d) sq += static_cast<double>(kh[d]) * kh[d];
        sum += static_cast<float>(std::sqrt(sq));
      }
    }
    if (slots[t].token < n_sinks_) {  // kept exact for re-rotation
      const float* src = k + static_cast<std::int64_t>(t) * row;
      std::copy(src, src + row, sink_keys_[static_cast<std::size_t>(layer)].begin() + slots[t].token * row);
    }
    blocks_[static_cast<std::size_t>(slots[t].block)]->store(layer, slots[t].slot, k + static_cast<std::int64_t>(t) * row,
                                                            v + static_cast<std::int64_t>(t) * row);
  }
}

std::size_t KvCache::bytes() const {
  std::size_t b = 0;
  for (const auto& blk : blocks_) b += blk->bytes();
  for (const auto& blk : free_) b += blk->bytes();
  return b;
}

void KvCache::truncate(std::int64_t n_tokens) {
  if (n_tokens == 0) return clear();
  if (n_evicted_ > 0) throw Error("cannot rewind a KV cache to token " + std::to_string(n_tokens) + " after it evicted tokens");
  n_tokens_ = std::clamp<std::int64_t>(n_tokens, 0, n_tokens_);
  // Block i holds the sequence's tokens [i*block_size, i*block_size + size()).
  std::size_t b = 0;
  for (; b < blocks_.size(); ++b) {
    const std::int64_t first = blocks_[b]->index() * shape_.block_size;
    if (first >= n_tokens_) break;
    const std::int64_t keep = std::min(blocks_[b]->size(), n_tokens_ - first);
    if (keep < blocks_[b]->size()) writable(b).drop_slots_from(keep);
  }
  for (std::size_t d = b; d < blocks_.size(); ++d) release(std::move(blocks_[d]));
  blocks_.resize(b);
}

void KvCache::clear() {
  for (auto& blk : blocks_) release(std::move(blk));
  blocks_.clear();
  n_tokens_ = 0;
  n_evicted_ = 0;
  key_mass_.clear();
  std::fill(sink_shift_applied_.begin(), sink_shift_applied_.end(), 0);
  sink_shift_ = 0;
}

}  // namespace qwen3
