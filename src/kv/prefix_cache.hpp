#pragma once
// Prefix sharing: full KV blocks of earlier sequences, found again by the tokens they hold, so a new
// sequence that starts with the same tokens (a system prompt, few-shot examples, the earlier turns of
// a chat) attends to those blocks instead of computing them again.
//
// A block is known by a key chained over every token before it and its own (block b's key hashes
// block b-1's key and b's tokens), so one lookup per block walks the longest cached prefix; each
// entry keeps its tokens and its parent's key, so a hash collision is a miss, never a wrong block.
// Entries are counted in use while running sequences hold them, and idle ones are dropped least
// recently used first when the pool needs their room.
//
// On ranks every member keeps the same entries (the same calls in the same order); an entry holds the
// block only where this member owns it (KvBlockOwner), nullptr elsewhere.
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "kv/kv_cache.hpp"

namespace qwen3 {

class PrefixCache {
 public:
  explicit PrefixCache(std::int64_t block_size);

  struct Match {
    std::vector<std::uint64_t> keys;                // of the matched blocks, in order
    std::vector<std::shared_ptr<KvBlock>> held;     // those this member holds (KvCache::share_prefix)
    std::int64_t tokens() const;                    // keys.size() x block_size
    std::int64_t block_size = 0;
  };
  // The longest cached prefix of `tokens` in whole blocks, at most max_blocks; its entries are marked
  // in use (release() them when the sequence ends).
  Match acquire(std::span<const std::int32_t> tokens, std::int64_t max_blocks);
  void release(std::span<const std::uint64_t> keys);

  // Offers block `index` of a sequence: `tokens` are the sequence's first (index + 1) x block_size
  // tokens, `parent` the key of block index - 1 (0 for the first; the caller holds it), `block` the
  // full block where this member holds it. The entry -- new, or the one already there for the same
  // tokens -- is then in use by the caller, who releases `key` with the others. `cached` is false
  // when another block owns the key (a hash collision): the caller offers no further blocks.
  struct Offer {
    std::uint64_t key = 0;
    bool added = false;   // a new entry: the block now counts in the cache, not in the caller's own
    bool cached = false;
  };
  Offer offer(std::uint64_t parent, std::int64_t index, std::span<const std::int32_t> tokens, std::shared_ptr<KvBlock> block);

  std::int64_t blocks() const { return static_cast<std::int64_t>(entries_.size()); }
  std::int64_t idle_blocks() const;
  // Drops the least recently used idle entry that no other entry extends; false when there is none.
  bool drop_idle();

 private:
  struct Entry {
    std::uint64_t parent = 0;
    std::vector<std::int32_t> tokens;  // the block's own
    std::shared_ptr<KvBlock> block;
    std::int64_t users = 0;
    std::int64_t children = 0;  // entries whose parent this is: dropped only after them
    std::uint64_t last_used = 0;
    std::int64_t index = 0;
  };
  static std::uint64_t key_of(std::uint64_t parent, std::span<const std::int32_t> block_tokens);
  Entry* find(std::uint64_t key, std::uint64_t parent, std::span<const std::int32_t> block_tokens);

  std::int64_t block_size_;
  std::unordered_map<std::uint64_t, Entry> entries_;
  std::uint64_t clock_ = 0;
};

}  // namespace qwen3
