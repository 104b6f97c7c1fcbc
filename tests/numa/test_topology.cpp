// hwloc topology and binding on a pretend machine. This binary is built three times, and sets
// HWLOC_SYNTHETIC with HWLOC_THISSYSTEM=1 before hwloc first loads, so CPU binding is real on this
// one-domain machine:
//   QWEN3_PRETEND_CASE 2: "package:2 numa:1 core:1 pu:1", 2 domains of one core each
//   QWEN3_PRETEND_CASE 4: "package:4 numa:1 core:1 pu:1", 4 domains, of which 2 have cores this
//                         machine has
//   QWEN3_PRETEND_CASE 3: "package:2 [numa] [numa] core:1 pu:1", 4 nodes, two per package sharing its
//                         core (as HBM beside DDR): 2 domains, the memory-only nodes left out
#include <gtest/gtest.h>

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "memory/page_buffer.hpp"
#include "numa/topology.hpp"

namespace qwen3::numa {
namespace {

constexpr int kCase = QWEN3_PRETEND_CASE;
const bool g_env_set = [] {
  const std::string synthetic = kCase == 3 ? "package:2 [numa] [numa] core:1 pu:1"
                                           : "package:" + std::to_string(kCase) + " numa:1 core:1 pu:1";
  setenv("HWLOC_SYNTHETIC", synthetic.c_str(), 1);
  setenv("HWLOC_THISSYSTEM", "1", 1);
  unsetenv("OMP_NUM_THREADS");
  return true;
}();

bool two_cpus() { return sysconf(_SC_NPROCESSORS_ONLN) >= 2 && thread_cpus().size() >= 2; }

// Property: the plan has one domain per pretend node that has a core this process may use, one
// thread per core; nodes whose cores the machine lacks are left out with one note line each.
TEST(Topology, PlanCoversTheDomainsWithUsableCores) {
  if (!two_cpus()) GTEST_SKIP() << "requires cpus>=2: this process may use " << thread_cpus().size() << " CPU(s)";
  const DomainPlan plan = plan_domains(0);
  ASSERT_EQ(plan.domains.size(), 2u);
  const int second = kCase == 3 ? 2 : 1;  // with two nodes per package, nodes 0 and 2 have their own cores
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(plan.domains[i].os_index, i == 0 ? 0 : second);
    EXPECT_EQ(plan.domains[i].cpus, std::vector<int>{static_cast<int>(i)});
    EXPECT_EQ(plan.domains[i].threads, 1);
  }
  if (kCase == 2) {
    EXPECT_EQ(plan.notes, "");
  } else if (kCase == 4) {
    EXPECT_EQ(plan.notes,
              "note: --numa: NUMA node 2 has no cores this process may use; no team runs there\n"
              "note: --numa: NUMA node 3 has no cores this process may use; no team runs there\n");
  } else {
    EXPECT_EQ(plan.notes,
              "note: --numa: NUMA node 1 shares its cores with another node (memory without cores of its own); no team runs there\n"
              "note: --numa: NUMA node 3 shares its cores with another node (memory without cores of its own); no team runs there\n");
  }
  EXPECT_EQ(plan.describe(), kCase == 3 ? "2 domains: node 0 (1 thread), node 2 (1 thread)" : "2 domains: node 0 (1 thread), node 1 (1 thread)");
}

// Property: fewer threads than domains uses as many domains as threads, and says so.
TEST(Topology, FewerThreadsThanDomainsFallsBack) {
  if (!two_cpus()) GTEST_SKIP() << "requires cpus>=2: this process may use " << thread_cpus().size() << " CPU(s)";
  const DomainPlan plan = plan_domains(1);
  EXPECT_EQ(plan.domains.size(), 1u);
  EXPECT_NE(plan.notes.find("note: --numa: 1 thread(s) for 2 domains; using the first 1\n"), std::string::npos) << plan.notes;
  // -t 4 over two domains: 2 threads each.
  const DomainPlan four = plan_domains(4);
  ASSERT_EQ(four.domains.size(), 2u);
  EXPECT_EQ(four.domains[0].threads, 2);
  EXPECT_EQ(four.domains[1].threads, 2);
}

// Property: after bind_team, every thread of the domain's team runs only on the domain's cores (read
// back with sched_getaffinity inside a later parallel region, which reuses the pool), the bindings
// are counted, and a large buffer allocated by the domain's thread goes through the area binding.
// Where the kernel has the node, the memory bindings succeed and every sampled page of the buffer
// is on it; where it lacks it (a pretend node), they fail and the pages are on a node it has.
TEST(Topology, TeamsAreBoundToTheirDomainsCores) {
  if (!two_cpus()) GTEST_SKIP() << "requires cpus>=2: this process may use " << thread_cpus().size() << " CPU(s)";
  DomainPlan plan = plan_domains(4);  // 2 threads per domain: a real team on each one-core domain
  ASSERT_EQ(plan.domains.size(), 2u);
  set_area_binder(&bind_area_to_this_domain);
  const std::vector<int> kernel_nodes = allowed_memory_nodes();
  const std::set<int> allowed(kernel_nodes.begin(), kernel_nodes.end());
  ASSERT_FALSE(allowed.empty()) << "get_mempolicy(MPOL_F_MEMS_ALLOWED) answers on Linux";
  std::vector<BindingCounts> before;
  for (const auto& d : plan.domains) before.push_back(binding_counts(d.os_index));
  std::mutex m;
  std::vector<std::set<std::vector<int>>> seen(plan.domains.size());
  std::vector<std::vector<UsePlacement>> placements(plan.domains.size());  // while the buffer lives
  std::vector<std::thread> leaders;
  for (std::size_t i = 0; i < plan.domains.size(); ++i)
    leaders.emplace_back([&, i] {
      const Domain& d = plan.domains[i];
      bind_thread(d);
      omp_set_num_threads(d.threads);
      bind_team(d);
      for (int round = 0; round < 3; ++round) {
#pragma omp parallel
        {
          const std::vector<int> cpus = thread_cpus();
          std::lock_guard lock(m);
          seen[i].insert(cpus);
        }
      }
      PageBuffer big(std::size_t(4) << 20, "test buffer");
      std::memset(big.data(), 1, big.size());  // first touch, on the domain's core
      placements[i] = sampled_placement(d.os_index);
    });
  for (auto& t : leaders) t.join();
  set_area_binder(nullptr);
  for (std::size_t i = 0; i < plan.domains.size(); ++i) {
    const Domain& d = plan.domains[i];
    EXPECT_EQ(seen[i], (std::set<std::vector<int>>{d.cpus})) << "domain " << i;
    const BindingCounts after = binding_counts(d.os_index);
    EXPECT_EQ(after.cpu_binds - before[i].cpu_binds, 1 + d.threads) << "the leader, then its team";
    const bool kernel_has_node = allowed.count(d.os_index) > 0;
    const long memory_binds = after.memory_binds - before[i].memory_binds;
    const long memory_failures = after.memory_bind_failures - before[i].memory_bind_failures;
    const long area_binds = after.area_binds - before[i].area_binds;
    const long area_failures = after.area_bind_failures - before[i].area_bind_failures;
    EXPECT_EQ(memory_binds, kernel_has_node ? 1 + d.threads : 0) << "node " << d.os_index;
    EXPECT_EQ(memory_failures, kernel_has_node ? 0 : 1 + d.threads) << "node " << d.os_index;
    EXPECT_EQ(area_binds, kernel_has_node ? 1 : 0) << "the 4 MiB buffer";
    EXPECT_EQ(area_failures, kernel_has_node ? 0 : 1) << "the 4 MiB buffer";
    if (!kernel_has_node) {
      EXPECT_EQ(after.memory_bind_errno, EINVAL);
    }
    const auto test_buffer = std::find_if(placements[i].begin(), placements[i].end(), [](const UsePlacement& u) { return u.use == "test buffer"; });
    ASSERT_NE(test_buffer, placements[i].end()) << "node " << d.os_index;
    const PagePlacement& pages = test_buffer->pages;
    EXPECT_EQ(pages.untouched + pages.unknown, 0);
    EXPECT_GT(pages.resident(), 0);
    if (kernel_has_node) {
      EXPECT_EQ(pages.on(d.os_index), pages.resident()) << "node " << d.os_index << ": bound, so all on it";
    } else {
      EXPECT_EQ(pages.on(d.os_index), 0) << "node " << d.os_index << " has no memory here";
      for (std::size_t node = 0; node < pages.pages_on_node.size(); ++node) {
        if (pages.pages_on_node[node] > 0) {
          EXPECT_EQ(allowed.count(static_cast<int>(node)), 1u) << "pages on node " << node;
        }
      }
    }
  }
  // Released, the buffers' last samples stay in the figures, and the line shows them.
  const std::string line = describe_bindings();
  for (const Domain& d : plan.domains) {
    const std::string node = std::to_string(d.os_index);
    EXPECT_NE(line.find("sampled pages on node " + node + ": "), std::string::npos) << line;
    EXPECT_EQ(allowed.count(d.os_index) > 0, line.find("no memory on node " + node + " ") == std::string::npos) << line;
  }
}

}  // namespace
}  // namespace qwen3::numa
