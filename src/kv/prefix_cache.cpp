#include "kv/prefix_cache.hpp"

#include <algorithm>
#include <tuple>

#include "qwen3/error.hpp"

namespace qwen3 {

PrefixCache::PrefixCache(std::int64_t block_size) : block_size_(block_size) {
  if (block_size < 1) throw Error("prefix cache: block size " + std::to_string(block_size));
}

std::int64_t PrefixCache::Match::tokens() const { return static_cast<std::int64_t>(keys.size()) * block_size; }

std::uint64_t PrefixCache::key_of(std::uint64_t parent, std::span<const std::int32_t> block_tokens) {
  // splitmix64's finaliser over the parent key and each token: cheap, and every input bit reaches
  // every output bit, so blocks that differ in one token get unrelated keys.
  const auto mix = [](std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  std::uint64_t h = mix(parent + 0x9e3779b97f4a7c15ULL);
  for (std::int32_t t : block_tokens) h = mix(h ^ static_cast<std::uint32_t>(t));
  return h == 0 ? 1 : h;  // 0 stands for "no parent"
}

PrefixCache::Entry* PrefixCache::find(std::uint64_t key, std::uint64_t parent, std::span<const std::int32_t> block_tokens) {
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.parent != parent || !std::ranges::equal(it->second.tokens, block_tokens)) return nullptr;
  return &it->second;
}

PrefixCache::Match PrefixCache::acquire(std::span<const std::int32_t> tokens, std::int64_t max_blocks) {
  Match m;
  m.block_size = block_size_;
  ++clock_;
  std::uint64_t parent = 0;
  const std::int64_t n = std::min(max_blocks, static_cast<std::int64_t>(tokens.size()) / block_size_);
  for (std::int64_t b = 0; b < n; ++b) {
    const auto block_tokens = tokens.subspan(static_cast<std::size_t>(b * block_size_), static_cast<std::size_t>(block_size_));
    const std::uint64_t key = key_of(parent, block_tokens);
    Entry* e = find(key, parent, block_tokens);
    if (e == nullptr) break;
    ++e->users;
    e->last_used = clock_;
    m.keys.push_back(key);
    if (e->block) m.held.push_back(e->block);
    parent = key;
  }
  return m;
}

void PrefixCache::release(std::span<const std::uint64_t> keys) {
  for (std::uint64_t key : keys) {
    const auto it = entries_.find(key);
    if (it == entries_.end() || it->second.users < 1) throw Error("prefix cache: releasing a block nobody holds");
    --it->second.users;
  }
}

PrefixCache::Offer PrefixCache::offer(std::uint64_t parent, std::int64_t index, std::span<const std::int32_t> tokens,
                                      std::shared_ptr<KvBlock> block) {
  if (static_cast<std::int64_t>(tokens.size()) < (index + 1) * block_size_)
    throw Error("prefix cache: block " + std::to_string(index) + " offered with " + std::to_string(tokens.size()) + " tokens");
  const auto block_tokens = tokens.subspan(static_cast<std::size_t>(index * block_size_), static_cast<std::size_t>(block_size_));
  const std::uint64_t key = key_of(parent, block_tokens);
  if (entries_.contains(key)) {
    Entry* e = find(key, parent, block_tokens);
    if (e == nullptr) return {key, false, false};
    ++e->users;
    e->last_used = clock_;
    return {key, false, true};
  }
  if (parent != 0) ++entries_.at(parent).children;
  Entry& e = entries_[key];
  e.parent = parent;
  e.tokens.assign(block_tokens.begin(), block_tokens.end());
  e.block = std::move(block);
  e.users = 1;
  e.last_used = clock_;
  e.index = index;
  return {key, true, true};
}

std::int64_t PrefixCache::idle_blocks() const {
  return std::ranges::count_if(entries_, [](const auto& kv) { return kv.second.users == 0; });
}

bool PrefixCache::drop_idle() {
  // Least recently used first, and only blocks no other entry extends: a chain shortens from its end,
  // so its head stays findable and no entry is left unreachable. The key breaks the last ties so
  // every member drops the same entry whatever its map's order.
  auto victim = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->second.users > 0 || it->second.children > 0) continue;
    const auto rank = [](const auto& kv) { return std::make_tuple(kv.second.last_used, -kv.second.index, kv.first); };
    if (victim == entries_.end() || rank(*it) < rank(*victim)) victim = it;
  }
  if (victim == entries_.end()) return false;
  if (victim->second.parent != 0) --entries_.at(victim->second.parent).children;
  entries_.erase(victim);
  return true;
}

}  // namespace qwen3
