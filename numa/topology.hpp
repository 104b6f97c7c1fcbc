#pragma once
// NUMA domains as hwloc sees them, and the binding of one thread team per domain. The only place
// that includes <hwloc.h>. hwloc reads HWLOC_SYNTHETIC / HWLOC_XMLFILE, so a one-domain machine can
// pretend to have two (with HWLOC_THISSYSTEM=1 the CPU binding is then real; memory binding to a
// pretend node the kernel lacks fails with EINVAL, is noted, and the pages stay where they are first
// touched: numa/README.md).
#include <cstddef>
#include <string>
#include <vector>

#include "numa/page_placement.hpp"

namespace qwen3::numa {

struct Domain {
  int os_index = 0;       // the NUMA node's number (numactl's)
  std::vector<int> cpus;  // the PUs of this node the process may run on (its affinity, as mpirun/Slurm set it)
  int threads = 0;        // the team this domain gets
};

struct DomainPlan {
  std::vector<Domain> domains;  // the domains used; one domain: one team, as with --numa off
  std::string notes;            // one "note: ..." line per fallback, each ending in '\n'; empty if none
  std::string describe() const; // "2 domains: node 0 (1 thread), node 1 (1 thread)"
};

// --numa auto: the domains this process spans, each with its threads. `threads` is -t (0: one per usable
// core of each domain); it is split over the domains, at least one each. A domain without usable cores,
// or whose cores an earlier domain already has (memory without cores of its own), is left out, and
// more domains than threads use as many domains as there are threads, each with a note; fewer than
// two domains left means one team, as today.
DomainPlan plan_domains(int threads);

// Binds the calling thread's CPU set to the domain's cpus, and its memory policy to the node (not
// strict: a node that cannot take it leaves the kernel's default, memory near the CPU that first
// touches it). Both counted in binding_counts(); a failed memory binding is counted as failed and
// printed as a `note:` line with its errno (once per node and errno).
void bind_thread(const Domain& d);

// Binds every thread of the calling thread's OpenMP team (of d.threads threads) to the domain: later
// parallel regions of this thread reuse the same pool threads, so the binding stays.
void bind_team(const Domain& d);

// PageBuffer's area binder (src/memory/page_buffer.hpp, whose AreaBinder this matches): for a buffer
// made by a thread bound to a domain, binds [p, p + bytes) to the domain's node when the buffer has
// pages of its own (counted; a failure is a `note:` as above), and tracks the buffer so that
// describe_bindings() can sample where its pages are. Returns the function PageBuffer calls before
// freeing it; nullptr for a thread bound to no domain (nothing done).
using AreaRelease = void (*)(void* p, std::size_t bytes);
AreaRelease bind_area_to_this_domain(void* p, std::size_t bytes, bool own_pages, const char* use);

struct BindingCounts {
  long cpu_binds = 0;             // threads bound to a domain's cores
  long memory_binds = 0;          // threads whose memory policy was set to a domain's node
  long area_binds = 0;            // large buffers bound to the allocating thread's domain
  long memory_bind_failures = 0;  // threads whose memory policy could not be set (the call failed)
  long area_bind_failures = 0;    // large buffers that could not be bound
  int memory_bind_errno = 0;      // errno of the last failure of each kind, 0: none
  int area_bind_errno = 0;
};
// Per domain, by the node number the binding calls named (Domain::os_index).
BindingCounts binding_counts(int os_index);

// Where the pages of the buffers made by a domain's threads are, one entry per use ("weights", "KV",
// "buffers" for an unnamed PageBuffer), by name: the sample taken when each released buffer was
// freed, plus a fresh one of each live buffer. Node numbers are the kernel's.
struct UsePlacement {
  std::string use;
  PagePlacement pages;
};
std::vector<UsePlacement> sampled_placement(int os_index);

// For --stats, every node with a thread bound to it, "; " between nodes:
//   "node 0: 1 thread bindings to its cores, 1 to its memory, 1 large buffers bound to it, sampled
//    pages on node 0: KV 19/19, weights 64/64"
// Failed bindings are counted in parentheses with their errno, the pages' fraction on the node is
// followed by the nodes the others are on, and a node the kernel does not let this process allocate
// on (a pretend topology's) is named as such: numa/README.md.
std::string describe_bindings();

// The calling thread's CPUs (sched_getaffinity), for checks and tests.
std::vector<int> thread_cpus();

}  // namespace qwen3::numa
