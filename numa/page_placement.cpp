#include "numa/page_placement.hpp"

#include <linux/mempolicy.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace qwen3::numa {
namespace {

// The raw system calls: <numaif.h> wraps them but comes with libnuma, which the build does not need.
long query_page_nodes(std::vector<void*>& pages, std::vector<int>& status) {
#ifdef SYS_move_pages
  // No target nodes: move_pages moves nothing and writes each page's node (or -errno) to status.
  return syscall(SYS_move_pages, 0, static_cast<unsigned long>(pages.size()), pages.data(), nullptr, status.data(), 0);
#else
  (void)pages;
  (void)status;
  return -1;
#endif
}

}  // namespace

long PagePlacement::resident() const {
  long n = 0;
  for (long pages : pages_on_node) n += pages;
  return n;
}

long PagePlacement::on(int node) const {
  return node >= 0 && static_cast<std::size_t>(node) < pages_on_node.size() ? pages_on_node[static_cast<std::size_t>(node)] : 0;
}

void PagePlacement::add(const PagePlacement& other) {
  if (pages_on_node.size() < other.pages_on_node.size()) pages_on_node.resize(other.pages_on_node.size(), 0);
  for (std::size_t node = 0; node < other.pages_on_node.size(); ++node) pages_on_node[node] += other.pages_on_node[node];
  untouched += other.untouched;
  unknown += other.unknown;
}

PagePlacement sample_placement(const void* p, std::size_t bytes, int max_pages) {
  PagePlacement placement;
  if (p == nullptr || bytes == 0 || max_pages <= 0) return placement;
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(p) / page;
  const std::uintptr_t last = (reinterpret_cast<std::uintptr_t>(p) + bytes - 1) / page;
  const std::uintptr_t span = last - first + 1;
  const std::uintptr_t count = std::min<std::uintptr_t>(span, static_cast<std::uintptr_t>(max_pages));
  std::vector<void*> pages;
  pages.reserve(count);
  for (std::uintptr_t i = 0; i < count; ++i) {
    const std::uintptr_t index = count == 1 ? first : first + i * (span - 1) / (count - 1);  // first and last included
    pages.push_back(reinterpret_cast<void*>(index * page));
  }
  std::vector<int> status(pages.size(), 0);
  if (query_page_nodes(pages, status) != 0) {
    placement.unknown = static_cast<long>(pages.size());
    return placement;
  }
  for (int node : status) {
    if (node >= 0) {
      if (placement.pages_on_node.size() <= static_cast<std::size_t>(node)) placement.pages_on_node.resize(static_cast<std::size_t>(node) + 1, 0);
      ++placement.pages_on_node[static_cast<std::size_t>(node)];
    } else if (node == -ENOENT) {
      ++placement.untouched;
    } else {
      ++placement.unknown;
    }
  }
  return placement;
}

std::vector<int> allowed_memory_nodes() {
  std::vector<int> nodes;
#ifdef SYS_get_mempolicy
  constexpr unsigned long kMaxNodes = 4096;  // bits; the kernel wants room for all its possible nodes
  constexpr unsigned long kBitsPerWord = 8 * sizeof(unsigned long);
  std::vector<unsigned long> mask(kMaxNodes / kBitsPerWord, 0);
  if (syscall(SYS_get_mempolicy, nullptr, mask.data(), kMaxNodes, nullptr, MPOL_F_MEMS_ALLOWED) != 0) return nodes;
  for (unsigned long node = 0; node < kMaxNodes; ++node)
    if (mask[node / kBitsPerWord] >> (node % kBitsPerWord) & 1UL) nodes.push_back(static_cast<int>(node));
#endif
  return nodes;
}

int current_cpu_node() {
#ifdef SYS_getcpu
  unsigned cpu = 0, node = 0;
  if (syscall(SYS_getcpu, &cpu, &node, nullptr) == 0) return static_cast<int>(node);
#endif
  return -1;
}

}  // namespace qwen3::numa
