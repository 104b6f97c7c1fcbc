#pragma once
// Where the kernel has really put a buffer's pages: the proof behind --stats that a domain's memory is
// on its node, since a memory binding can fail or be overridden (a cpuset, a full node, a pretend
// topology). Asks the kernel directly (move_pages without a target: a query), not hwloc: hwloc's
// hwloc_get_area_memlocation answers one node set for a whole area, not per page, and under
// HWLOC_SYNTHETIC it would name the kernel's nodes by the pretend topology's indexes. Node numbers here
// are the kernel's (numactl's), which are hwloc's os_index on a real topology.
#include <cstddef>
#include <vector>

namespace qwen3::numa {

struct PagePlacement {
  std::vector<long> pages_on_node;  // [kernel node]: sampled pages resident there
  long untouched = 0;               // sampled pages with no memory behind them yet (never written)
  long unknown = 0;                 // sampled pages the kernel could not place (unmapped, no move_pages)

  long resident() const;            // pages on any node
  long on(int node) const;          // pages on `node`
  void add(const PagePlacement& other);
};

// Up to `max_pages` pages of [p, p + bytes), evenly spaced from the first to the last, each counted
// on the node the kernel reports for it. Reads nothing and moves nothing.
PagePlacement sample_placement(const void* p, std::size_t bytes, int max_pages = 64);

// The nodes this process may allocate on (its cpuset's memory nodes, get_mempolicy's
// MPOL_F_MEMS_ALLOWED); empty if the kernel cannot say.
std::vector<int> allowed_memory_nodes();

// The node of the CPU the calling thread runs on now (getcpu), -1 if unknown.
int current_cpu_node();

}  // namespace qwen3::numa
