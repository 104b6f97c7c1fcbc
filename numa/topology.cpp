#include "numa/topology.hpp"

#include <hwloc.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "numa/binding_record.hpp"
#include "qwen3/error.hpp"
#include "qwen3/partition.hpp"

namespace qwen3::numa {
namespace {

// One topology for the process, loaded on first use (hwloc reads HWLOC_SYNTHETIC etc. then).
hwloc_topology_t topology() {
  static hwloc_topology_t topo = [] {
    hwloc_topology_t t = nullptr;
    if (hwloc_topology_init(&t) != 0 || hwloc_topology_load(t) != 0) throw Error("--numa: hwloc cannot read the machine's topology");
    return t;
  }();
  return topo;
}

struct Bitmap {
  Bitmap() : b(hwloc_bitmap_alloc()) {}
  ~Bitmap() { hwloc_bitmap_free(b); }
  Bitmap(const Bitmap&) = delete;
  Bitmap& operator=(const Bitmap&) = delete;
  hwloc_bitmap_t b;
};

thread_local int t_domain = -1;  // the node the calling thread was bound to, -1: none

void node_set(int os_index, hwloc_bitmap_t set) {
  hwloc_bitmap_zero(set);
  hwloc_bitmap_set(set, static_cast<unsigned>(os_index));
}

int env_threads() {
  const char* s = std::getenv("OMP_NUM_THREADS");
  return s ? std::max(0, std::atoi(s)) : 0;
}

}  // namespace

std::string DomainPlan::describe() const {
  std::string s = std::to_string(domains.size()) + " domains:";
  for (std::size_t i = 0; i < domains.size(); ++i)
    s += std::string(i ? "," : "") + " node " + std::to_string(domains[i].os_index) + " (" + std::to_string(domains[i].threads) +
         (domains[i].threads == 1 ? " thread)" : " threads)");
  return s;
}

DomainPlan plan_domains(int threads) {
  hwloc_topology_t topo = topology();
  DomainPlan plan;
  Bitmap allowed;
  if (hwloc_get_cpubind(topo, allowed.b, HWLOC_CPUBIND_PROCESS) != 0) hwloc_bitmap_copy(allowed.b, hwloc_topology_get_allowed_cpuset(topo));
  // Bound by a launcher to part of the machine: the other domains are simply not ours, no note.
  // (Counted against the CPUs online, not hwloc's set, which a pretend topology may make larger.)
  const bool bound_by_launcher = hwloc_bitmap_weight(allowed.b) < sysconf(_SC_NPROCESSORS_ONLN);
  const int n_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  Bitmap taken;  // cores already serving a domain
  for (int i = 0; i < n_nodes; ++i) {
    const hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    Domain d;
    d.os_index = static_cast<int>(node->os_index);
    Bitmap usable;
    hwloc_bitmap_and(usable.b, node->cpuset, allowed.b);
    for (int pu = hwloc_bitmap_first(usable.b); pu >= 0; pu = hwloc_bitmap_next(usable.b, pu)) d.cpus.push_back(pu);
    if (!d.cpus.empty() && hwloc_bitmap_intersects(usable.b, taken.b)) {
      // Memory without cores of its own (HBM or CXL beside DDR; hwloc gives it its neighbour's
      // cores): a second team there would share the first one's cores.
      plan.notes += "note: --numa: NUMA node " + std::to_string(d.os_index) +
                    " shares its cores with another node (memory without cores of its own); no team runs there\n";
    } else if (!d.cpus.empty()) {
      hwloc_bitmap_or(taken.b, taken.b, usable.b);
      plan.domains.push_back(d);
    } else if (hwloc_bitmap_iszero(node->cpuset)) {
      plan.notes += "note: --numa: NUMA node " + std::to_string(d.os_index) + " has no cores (memory only); no team runs there\n";
    } else if (!bound_by_launcher) {
      plan.notes += "note: --numa: NUMA node " + std::to_string(d.os_index) + " has no cores this process may use; no team runs there\n";
    }
  }
  const int total = threads > 0 ? threads : env_threads();
  if (total > 0 && total < static_cast<int>(plan.domains.size())) {
    plan.notes += "note: --numa: " + std::to_string(total) + " thread(s) for " + std::to_string(plan.domains.size()) +
                  " domains; using the first " + std::to_string(total) + "\n";
    plan.domains.resize(static_cast<std::size_t>(total));
  }
  const int n = static_cast<int>(plan.domains.size());
  for (int i = 0; i < n; ++i) {
    Domain& d = plan.domains[static_cast<std::size_t>(i)];
    d.threads = total > 0 ? static_cast<int>(split_even(total, i, n).size()) : static_cast<int>(d.cpus.size());
  }
  return plan;
}

void bind_thread(const Domain& d) {
  hwloc_topology_t topo = topology();
  Bitmap cpus, nodes;
  for (int pu : d.cpus) hwloc_bitmap_set(cpus.b, static_cast<unsigned>(pu));
  if (hwloc_set_cpubind(topo, cpus.b, HWLOC_CPUBIND_THREAD) != 0) throw Error("--numa: cannot bind a thread to the cores of NUMA node " + std::to_string(d.os_index));
  record_cpu_bind(d.os_index);
  node_set(d.os_index, nodes.b);
  // Not strict: a node that cannot take the policy (a pretend one) leaves ordinary memory, which
  // costs speed, not correctness; the failure is counted and noted, the run goes on.
  errno = 0;
  const bool bound = hwloc_set_membind(topo, nodes.b, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) == 0;
  record_memory_bind(d.os_index, bound ? 0 : errno);
  t_domain = d.os_index;
}

void bind_team(const Domain& d) {
  std::exception_ptr err;
  std::mutex m;
#pragma omp parallel num_threads(d.threads)
  {
    try {
      bind_thread(d);
    } catch (...) {
      std::lock_guard lock(m);
      err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}

AreaRelease bind_area_to_this_domain(void* p, std::size_t bytes, bool own_pages, const char* use) {
  if (t_domain < 0) return nullptr;
  if (own_pages) {
    Bitmap nodes;
    node_set(t_domain, nodes.b);
    errno = 0;
    const bool bound = hwloc_set_area_membind(topology(), p, bytes, nodes.b, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET) == 0;
    record_area_bind(t_domain, bound ? 0 : errno);
  }
  return track_buffer(p, bytes, t_domain, use) ? &forget_buffer : nullptr;
}

std::vector<int> thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

}  // namespace qwen3::numa
