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

#include <cstdlib>
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
TEST(Topology, TeamsAreBoundToTheirDomainsCores) {
  if (!two_cpus()) GTEST_SKIP() << "requires cpus>=2: this process may use " << thread_cpus().size() << " CPU(s)";
  DomainPlan plan = plan_domains(4);  // 2 threads per domain: a real team on each one-core domain
  ASSERT_EQ(plan.domains.size(), 2u);
  set_area_binder(&bind_area_to_this_domain);
  std::vector<BindingCounts> before;
  for (const auto& d : plan.domains) before.push_back(binding_counts(d.os_index));
  std::mutex m;
  std::vector<std::set<std::vector<int>>> seen(plan.domains.size());
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
      PageBuffer big(std::size_t(4) << 20);
      big.data()[0] = std::byte{1};
    });
  for (auto& t : leaders) t.join();
  set_area_binder(nullptr);
  for (std::size_t i = 0; i < plan.domains.size(); ++i) {
    const Domain& d = plan.domains[i];
    EXPECT_EQ(seen[i], (std::set<std::vector<int>>{d.cpus})) << "domain " << i;
    const BindingCounts after = binding_counts(d.os_index);
    EXPECT_EQ(after.cpu_binds - before[i].cpu_binds, 1 + d.threads) << "the leader, then its team";
    EXPECT_EQ(after.memory_binds - before[i].memory_binds, 1 + d.threads);
    EXPECT_EQ(after.area_binds - before[i].area_binds, 1) << "the 4 MiB buffer";
  }
}

}  // namespace
}  // namespace qwen3::numa
