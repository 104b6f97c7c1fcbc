#pragma once
// The KV cache as a list of fixed-size blocks. Each block holds up to block_size tokens for every
// layer and KV head, and records the global position of each token it holds: causal masking and
// eviction (kv/kv_policy.hpp) work on positions, never on "index in my array", so blocks can be dropped,
// recycled or owned by another thread team, NUMA domain or MPI rank without copying the rest.
#include <cstddef>
#include <climits>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "kernels/kernels.hpp"
#include "memory/page_buffer.hpp"

namespace qwen3 {

using kernels::KvType;

struct KvCacheShape {
  std::int64_t n_layers = 0;
  std::int64_t n_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t block_size = 64;  // tokens per block: 64 keys x 128 dims of bf16 = 16 KiB per head, an L1-sized tile
  KvType type = KvType::F32;
};

std::size_t kv_element_size(KvType t);
// Bytes of one row (a token's K or V of one KV head): head_dim elements, and a Q8 row's f32 scale.
std::size_t kv_row_bytes(KvType t, std::int64_t head_dim);

class KvBlock {
 public:
  // An evicted slot keeps its place until the block is compacted or freed, with this position: every
  // query's causal mask (key position <= query position) hides it, so attention needs no other check.
  static constexpr std::int32_t kEvicted = INT32_MAX;

  // `index`: the block's number in the whole sequence (tokens [index*block_size, ...) in append order).
  KvBlock(const KvCacheShape& shape, std::int64_t index);

  std::int64_t index() const { return index_; }
  std::int64_t size() const { return static_cast<std::int64_t>(positions_.size()); }  // slots, evicted ones included
  std::int64_t live() const { return live_; }
  std::int64_t capacity() const { return capacity_; }  // slots allocated: a head's rows are this far apart
  bool full() const { return static_cast<std::int64_t>(tokens_.size()) == shape_.block_size || sealed_; }
  std::span<const std::int64_t> tokens() const { return tokens_; }  // append index of each slot
  std::span<const std::int32_t> positions() const { return positions_; }
  std::int32_t min_position() const { return min_pos_; }
  std::int32_t max_position() const { return max_pos_; }

  // Rows [size()][head_dim] of one layer's KV head, in the cache's element type (Q8: with their scales).
  kernels::KvRows keys(std::int64_t layer, std::int64_t kv_head) const { return rows(layer, kv_head, 0); }
  kernels::KvRows values(std::int64_t layer, std::int64_t kv_head) const { return rows(layer, kv_head, 1); }

  // Appends a slot for the token with append index `token` at `position`; its K/V are written per
  // layer with store().
  std::int64_t add_slot(std::int64_t token, std::int32_t position);
  void drop_slots_from(std::int64_t slot);  // keeps slots [0, slot)
  // Marks the slot of `token` evicted; false if this block does not hold it live.
  bool evict(std::int64_t token);
  // Moves the live slots into a buffer of their size (order kept), so evicted ones cost neither time
  // nor memory. A compacted block takes no new tokens.
  void compact();
  // Empties the block for reuse as block `index`.
  void reuse(std::int64_t index);
  // A private copy (prefix sharing's copy-on-write: a block other caches hold is changed only in a copy).
  std::shared_ptr<KvBlock> clone() const;
  // Writes one token's K and V rows ([n_kv_heads][head_dim] floats each) into `slot` of `layer`.
  void store(std::int64_t layer, std::int64_t slot, const float* k, const float* v);
  void store_keys(std::int64_t layer, std::int64_t slot, const float* k) {  // re-rotated sink keys
    write_rows(layer, slot, 0, k);
    ++rewrites_[static_cast<std::size_t>(layer)];
  }
  // How often `layer`'s rows changed other than by new slots being filled (slots dropped, a compaction,
  // a reuse, sink keys re-rotated): a copy of the block elsewhere (attention/device_attention.hpp)
  // that saw another count copies the layer's rows again.
  std::uint32_t rewrites(std::int64_t layer) const { return rewrites_[static_cast<std::size_t>(layer)]; }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t offset(std::int64_t layer, std::int64_t kv_head, int kind) const;
  // Q8: where the scales of those rows start, after every layer's rows ([n_layers][2][n_kv_heads][capacity_] floats).
  std::size_t scales_offset(std::int64_t layer, std::int64_t kv_head, int kind) const;
  kernels::KvRows rows(std::int64_t layer, std::int64_t kv_head, int kind) const;

  KvCacheShape shape_;  // a copy: a shared block outlives the cache that filled it
  std::int64_t index_;
  std::int64_t capacity_;  // slots allocated: block_size, or the live count after compact()
  std::size_t bytes_;
  PageBuffer data_;  // [n_layers][2 (K,V)][n_kv_heads][capacity_][head_dim], then Q8's scales
  std::vector<std::int32_t> positions_;
  std::vector<std::int64_t> tokens_;
  std::int64_t live_ = 0;
  bool sealed_ = false;  // compacted: its free slots are not its tokens' to fill
  std::vector<std::uint32_t> rewrites_;  // per layer
  void count_rewrite_of_every_layer();
  std::int32_t min_pos_ = 0;
  std::int32_t max_pos_ = 0;

  void update_bounds();
  void write_rows(std::int64_t layer, std::int64_t slot, int kind, const float* src);  // kind 0: K, 1: V
};

struct KvSlot {
  std::int32_t block = 0;  // index into blocks(); -1: the token's block belongs to another member
  std::int32_t slot = 0;
  std::int64_t token = 0;  // append index
};

// Which blocks of the sequence this cache keeps when `members` caches share one sequence (sequence
// parallelism). Blocks are dealt round-robin in snake order -- 0 1 2 2 1 0 0 1 2 ... for 3 members --
// so the members' block counts stay within one of each other as the sequence grows and as old blocks
// are evicted (decode: every query sees every block), and in prefill, where early blocks are seen by
// more queries than late ones, each pass out and back gives every member the same causal work.
// Plain b % members gave member 0 25 % more prefill attention than member 1 at 2 members x 8 blocks,
// and the others waited for it in the merge (bench/decode, 512-token prefill).
struct KvBlockOwner {
  int member = 0;
  int members = 1;
  bool owns(std::int64_t block_index) const {
    const std::int64_t r = block_index % (2 * members);
    return (r < members ? r : 2 * members - 1 - r) == member;
  }
};

class KvCache {
 public:
  // capacity_tokens: the most tokens the cache may hold (-c); appending past it throws qwen3::Error.
  // owner: the blocks this cache keeps; the others are only counted (their tokens live in other members'
  // caches), so size() and capacity() stay the whole sequence's on every member.
  KvCache(const KvCacheShape& shape, std::int64_t capacity_tokens, KvBlockOwner owner = {});

  const KvCacheShape& shape() const { return shape_; }
  std::int64_t capacity() const { return capacity_; }
  std::int64_t size() const { return n_tokens_ - n_evicted_; }  // live tokens of the sequence, on every member
  std::int64_t appended() const { return n_tokens_; }           // tokens ever appended (the next append index)
  std::int64_t local_size() const;                               // slots held here (evicted ones not yet reclaimed included)
  KvBlockOwner owner() const { return owner_; }
  std::span<const std::shared_ptr<KvBlock>> blocks() const { return blocks_; }  // held here, in sequence order

  // Prefix sharing: an empty cache starts from the first n_tokens (whole blocks) of another sequence
  // with the same first tokens, holding `held` -- those of its blocks this member owns, in order --
  // read-only beside the other caches that hold them. Any later change to a shared block (truncate,
  // evict, sink re-rotation) goes to a private copy first, so no other sequence ever sees it.
  void share_prefix(std::int64_t n_tokens, std::span<const std::shared_ptr<KvBlock>> held);
  // The full block numbered `index` if this member holds it (nullptr otherwise), to share it.
  std::shared_ptr<KvBlock> full_block(std::int64_t index) const;

  // Reserves one slot per position (in order), opening new blocks as needed; tokens whose block
  // another member owns get KvSlot{-1, -1}.
  std::vector<KvSlot> append(std::span<const std::int32_t> positions);
  // qwen3::Error (context full) unless `n_new` more tokens fit; append() checks the same.
  void check_room(std::int64_t n_new) const;
  // Writes K/V rows ([n][n_kv_heads*head_dim] floats) of `layer` into slots returned by append()
  // (slots held elsewhere are skipped).
  void store(std::int64_t layer, std::span<const KvSlot> slots, const float* k, const float* v);

  // Drops every token after the first n_tokens (in append order), e.g. to re-run from a prefix. After
  // an eviction only truncate(0) is possible (qwen3::Error otherwise).
  void truncate(std::int64_t n_tokens);

  // Evicts the token with append index `token` (every member calls this alike; the one whose block
  // holds it marks it). A block with no live token left is freed for reuse, and one whose live tokens
  // fell to half is compacted, so each eviction costs O(1) rows amortised, never a copy of the cache.
  void evict(std::int64_t token);

  // Key norms for the l2 policy: once tracking is on, store() adds, per token it holds, ||k|| of every
  // layer and KV head; take_key_norms hands out (and forgets) those of tokens [first, first + n), 0 for
  // tokens held elsewhere (the caller sums them over ranks).
  void track_key_norms(bool on) { track_norms_ = on; }
  std::vector<float> take_key_norms(std::int64_t first, std::int64_t n);

  // Attention mass for the h2o policy: once tracking is on, the model asks attention for the
  // probability each key received and hands it here ([local_size()] floats, slots in blocks() order,
  // summed over its layers and heads); take_key_mass hands out what `tokens` gathered since the last
  // call (0 for tokens held elsewhere: the caller sums over ranks) and starts again from zero.
  void track_key_mass(bool on) { track_mass_ = on; }
  bool tracks_key_mass() const { return track_mass_; }
  void add_key_mass(std::span<const float> per_slot);
  std::vector<float> take_key_mass(std::span<const std::int64_t> tokens);

  // Attention sinks (StreamingLLM): the first `count` tokens are attended as if they sat just before
  // the oldest kept token, i.e. their keys rotated by `shift` more positions than they were stored at.
  // The model re-rotates them (re_rotate_sinks) from exact f32 copies kept here, so the error does not
  // grow with the number of slides.
  void set_sinks(std::int64_t count, std::int32_t shift);
  std::int32_t sink_shift() const { return sink_shift_; }
  // Whether `layer`'s sink keys held here are not yet at sink_shift().
  bool sinks_stale(std::int64_t layer) const;
  // The sinks held here: their keys as first stored ([n][n_kv_heads*head_dim] f32), and the writer of
  // rotated ones.
  std::span<const float> sink_keys(std::int64_t layer) const;
  void write_sink_keys(std::int64_t layer, const float* rotated);

  std::size_t bytes() const;       // bytes allocated now (free blocks kept for reuse included)
  std::size_t peak_bytes() const { return peak_bytes_; }
  void clear();

 private:
  KvCacheShape shape_;
  std::int64_t capacity_;
  KvBlockOwner owner_;
  std::int64_t n_tokens_ = 0;
  std::int64_t n_evicted_ = 0;
  std::vector<std::shared_ptr<KvBlock>> blocks_;
  std::vector<std::shared_ptr<KvBlock>> free_;  // emptied blocks no other cache holds, reused before new ones are allocated
  // Sinks: count, the shift they are attended at, and per layer their first-stored keys and the shift
  // their stored keys are at now.
  std::int64_t n_sinks_ = 0;
  std::int32_t sink_shift_ = 0;
  std::vector<std::vector<float>> sink_keys_;
  std::vector<std::int32_t> sink_shift_applied_;
  bool track_norms_ = false;
  std::unordered_map<std::int64_t, float> key_norms_;
  bool track_mass_ = false;
  std::unordered_map<std::int64_t, float> key_mass_;

  KvBlock* take_block(std::int64_t index);
  std::size_t position_of(std::int64_t index) const;  // of block `index` in blocks_; blocks_.size() if not held
  KvBlock& writable(std::size_t b);        // blocks_[b], first copied if another cache holds it too
  void release(std::shared_ptr<KvBlock> blk);  // to free_ unless another cache holds it
  std::size_t peak_bytes_ = 0;
};

}  // namespace qwen3
