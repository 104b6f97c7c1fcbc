#pragma once
// NUMA domains as hwloc sees them, and the binding of one thread team per domain. The only place
// that includes <hwloc.h>. hwloc reads HWLOC_SYNTHETIC / HWLOC_XMLFILE, so a one-domain machine can
// pretend to have two (with HWLOC_THISSYSTEM=1 the CPU binding is then real; memory binding to a
// pretend domain is accepted non-strictly and falls back to ordinary memory).
#include <atomic>
#include <string>
#include <vector>

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
// strict: a node that cannot take it leaves ordinary memory). Counted in binding_counts().
void bind_thread(const Domain& d);

// Binds every thread of the calling thread's OpenMP team (of d.threads threads) to the domain: later
// parallel regions of this thread reuse the same pool threads, so the binding stays.
void bind_team(const Domain& d);

// Memory binding for PageBuffer's large buffers (src/memory/page_buffer.hpp): binds [p, p + bytes) to
// the domain the calling thread was bound to, if any. Counted.
void bind_area_to_this_domain(void* p, std::size_t bytes);

struct BindingCounts {
  long cpu_binds = 0;     // threads bound to a domain's cores
  long memory_binds = 0;  // threads whose memory policy was set to a domain's node
  long area_binds = 0;    // large buffers bound to the allocating thread's domain
};
// Per domain (indexed like DomainPlan::domains as bound through bind_team's Domain::os_index).
BindingCounts binding_counts(int os_index);

// "node 0: 1 thread bindings to its cores, 1 to its memory, 1 large buffers bound to it; node 1: ..."
// for every node with a binding, for --stats.
std::string describe_bindings();

// The calling thread's CPUs (sched_getaffinity), for checks and tests.
std::vector<int> thread_cpus();

}  // namespace qwen3::numa
