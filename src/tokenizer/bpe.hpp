#pragma once
// BPE merges over token ids. A word arrives as the ids of its single-byte tokens; the pair with the
// lowest merge rank is merged first (leftmost first among equal ranks) until no listed pair is
// left, exactly as Hugging Face's BPE model does without dropout. A binary heap of candidate pairs
// over a linked list of symbols makes a word of n bytes cost O(n log n).
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace qwen3::tok {

class BpeMerges {
 public:
  // Registers merge (left, right) -> merged with the given rank. A later registration of the same
  // pair replaces the earlier one (as when Hugging Face collects the merges into a map).
  void add(std::int32_t left, std::int32_t right, std::int32_t merged, std::int32_t rank);
  void reserve(std::size_t n) { merges_.reserve(n); }
  std::size_t size() const { return merges_.size(); }

  // Appends the merged ids of `word` to `out`.
  void apply(std::span<const std::int32_t> word, std::vector<std::int32_t>& out) const;

 private:
  struct Merge {
    std::int32_t rank;
    std::int32_t merged;
  };
  static std::uint64_t key(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
           static_cast<std::uint32_t>(right);
  }
  const Merge* find(std::int32_t left, std::int32_t right) const {
    const auto it = merges_.find(key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  }

  std::unordered_map<std::uint64_t, Merge> merges_;
};

}  // namespace qwen3::tok
