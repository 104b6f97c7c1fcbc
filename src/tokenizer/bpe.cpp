#include "bpe.hpp"

#include <algorithm>

namespace qwen3::tok {

void BpeMerges::add(std::int32_t left, std::int32_t right, std::int32_t merged, std::int32_t rank) {
  merges_.insert_or_assign(key(left, right), Merge{rank, merged});
}

namespace {

struct Symbol {
  std::int32_t id;    // -1 once merged into its left neighbour
  std::int32_t prev;  // index of the previous live symbol, -1 at the start
  std::int32_t next;  // index of the next live symbol, -1 at the end
};

struct Candidate {
  std::int32_t rank;
  std::int32_t pos;     // index of the left symbol
  std::int32_t merged;  // what the pair merged into when queued (detects stale entries)
};

// std::*_heap keep the "largest" on top: make the smallest (rank, pos) the largest.
struct LaterFirst {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

}  // namespace

void BpeMerges::apply(std::span<const std::int32_t> word, std::vector<std::int32_t>& out) const {
  const auto n = static_cast<std::int32_t>(word.size());
  if (n <= 1) {
    out.insert(out.end(), word.begin(), word.end());
    return;
  }
  if (n == 2) {  // the most common case after single bytes: at most one merge
    const Merge* m = find(word[0], word[1]);
    if (m) {
      out.push_back(m->merged);
    } else {
      out.insert(out.end(), word.begin(), word.end());
    }
    return;
  }

  std::vector<Symbol> sym(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n; ++i) sym[i] = Symbol{word[i], i - 1, i + 1 < n ? i + 1 : -1};

  std::vector<Candidate> heap;
  heap.reserve(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i + 1 < n; ++i) {
    if (const Merge* m = find(word[i], word[i + 1])) heap.push_back({m->rank, i, m->merged});
  }
  std::make_heap(heap.begin(), heap.end(), LaterFirst{});

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), LaterFirst{});
    const Candidate c = heap.back();
    heap.pop_back();

    Symbol& left = sym[c.pos];
    if (left.id < 0 || left.next < 0) continue;
    Symbol& right = sym[left.next];
    // The pair at pos may have changed since it was queued. A changed pair always spans more
    // text, so it merges into a different token: comparing the merged id is enough.
    const Merge* m = find(left.id, right.id);
    if (!m || m->merged != c.merged) continue;

    left.id = c.merged;
    const std::int32_t after = right.next;
    right.id = -1;
    left.next = after;
    if (after >= 0) sym[after].prev = c.pos;

    if (left.prev >= 0) {
      if (const Merge* pm = find(sym[left.prev].id, left.id)) {
        heap.push_back({pm->rank, left.prev, pm->merged});
        std::push_heap(heap.begin(), heap.end(), LaterFirst{});
      }
    }
    if (after >= 0) {
      if (const Merge* nm = find(left.id, sym[after].id)) {
        heap.push_back({nm->rank, c.pos, nm->merged});
        std::push_heap(heap.begin(), heap.end(), LaterFirst{});
      }
    }
  }

  for (std::int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace qwen3::tok
