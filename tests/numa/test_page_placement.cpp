// Where pages really are (numa/page_placement.hpp), what a failed memory binding leaves behind (a
// note with its errno, counted, and the pages' true node in describe_bindings), and the PageBuffer
// hook that feeds both. On this machine's real topology (no pretend one): the kernel's node numbers.
#include <gtest/gtest.h>

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "memory/page_buffer.hpp"
#include "numa/page_placement.hpp"
#include "numa/topology.hpp"

namespace qwen3::numa {
namespace {

const std::size_t kPage = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

// An anonymous mapping of its own, so no other allocation has touched its pages.
struct Mapping {
  explicit Mapping(std::size_t n) : bytes(n), p(mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {}
  ~Mapping() {
    if (p != MAP_FAILED) munmap(p, bytes);
  }
  std::byte* data() const { return static_cast<std::byte*>(p); }
  std::size_t bytes;
  void* p;
};

// Runs f on a thread of its own, pinned to the CPU the test runs on now: the pages it first touches
// go to that CPU's node (the kernel's default policy), whatever the scheduler does meanwhile.
template <class F>
void on_one_cpu(F f) {
  std::thread t([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    f();
  });
  t.join();
}

// Property: every sampled page of a buffer this thread first touched is on this CPU's node.
TEST(PagePlacement, FirstTouchedPagesAreOnThisCpusNode) {
  on_one_cpu([] {
    Mapping m(std::size_t(4) << 20);
    ASSERT_NE(m.p, MAP_FAILED);
    std::memset(m.data(), 1, m.bytes);
    const int node = current_cpu_node();
    ASSERT_GE(node, 0);
    const PagePlacement pages = sample_placement(m.p, m.bytes, 64);
    EXPECT_EQ(pages.resident(), 64);
    EXPECT_EQ(pages.on(node), 64) << "node " << node;
    EXPECT_EQ(pages.untouched + pages.unknown, 0);
  });
}

// Property: pages never written have no node yet; they are counted apart, not as misplaced.
TEST(PagePlacement, UntouchedPagesAreCountedApart) {
  Mapping m(std::size_t(1) << 20);
  ASSERT_NE(m.p, MAP_FAILED);
  const PagePlacement pages = sample_placement(m.p, m.bytes, 64);
  EXPECT_EQ(pages.resident(), 0);
  EXPECT_EQ(pages.untouched, 64);
  EXPECT_EQ(pages.unknown, 0);
}

// Property: the sample always includes the first and the last page, and never more pages than asked
// for or than the buffer has.
TEST(PagePlacement, SampleSpansTheWholeBuffer) {
  Mapping m(3 * kPage);
  ASSERT_NE(m.p, MAP_FAILED);
  m.data()[0] = std::byte{1};
  m.data()[m.bytes - 1] = std::byte{1};
  const PagePlacement two = sample_placement(m.p, m.bytes, 2);
  EXPECT_EQ(two.resident(), 2);
  EXPECT_EQ(two.untouched, 0);
  const PagePlacement all = sample_placement(m.p, m.bytes, 64);
  EXPECT_EQ(all.resident(), 2);
  EXPECT_EQ(all.untouched, 1) << "the middle page";
  // One byte from the end of the first page to the start of the second: two pages.
  const PagePlacement straddling = sample_placement(m.data() + kPage - 1, 2, 64);
  EXPECT_EQ(straddling.resident() + straddling.untouched, 2);
}

// Property: addresses with nothing mapped are neither on a node nor untouched.
TEST(PagePlacement, UnmappedPagesAreUnknown) {
  void* p = nullptr;
  {
    Mapping m(4 * kPage);
    ASSERT_NE(m.p, MAP_FAILED);
    p = m.p;
  }
  const PagePlacement pages = sample_placement(p, 4 * kPage, 64);
  EXPECT_EQ(pages.unknown, 4);
  EXPECT_EQ(pages.resident() + pages.untouched, 0);
}

TEST(PagePlacement, ThisCpusNodeIsAnAllowedMemoryNode) {
  const std::vector<int> nodes = allowed_memory_nodes();
  ASSERT_FALSE(nodes.empty());
  EXPECT_NE(std::find(nodes.begin(), nodes.end(), current_cpu_node()), nodes.end());
}

// PageBuffer's hook, with a stand-in for numa's binder: what it is told, and when.
struct HookCall {
  const void* p;
  std::size_t bytes;
  bool own_pages;
  std::string use;
};
std::vector<HookCall> g_made, g_released;
long g_unmapped_at_release = 0;

void record_release(void* p, std::size_t bytes) {
  g_released.push_back({p, bytes, false, ""});
  g_unmapped_at_release += sample_placement(p, bytes, 64).unknown;
}
AreaRelease record_made(void* p, std::size_t bytes, bool own_pages, const char* use) {
  g_made.push_back({p, bytes, own_pages, use});
  return &record_release;
}

// Property: the hook hears of every buffer, small ones as sharing their pages and large ones as
// mappings of their own (whole 2 MiB pages), with their use; the release function it returns is
// called once per buffer, moves included, while the memory is still there.
TEST(PageBufferHook, ToldOfEveryBufferAndItsRelease) {
  g_made.clear();
  g_released.clear();
  g_unmapped_at_release = 0;
  set_area_binder(&record_made);
  const void* small_data = nullptr;
  const void* big_data = nullptr;
  {
    PageBuffer none(0);
    PageBuffer small(4096, "small");
    PageBuffer big(std::size_t(3) << 20);
    small_data = small.data();
    big_data = big.data();
    PageBuffer moved = std::move(big);
    PageBuffer assigned;
    assigned = std::move(moved);
  }
  set_area_binder(nullptr);
  ASSERT_EQ(g_made.size(), 2u);
  EXPECT_EQ(g_made[0].p, small_data);
  EXPECT_EQ(g_made[0].bytes, 4096u);
  EXPECT_FALSE(g_made[0].own_pages);
  EXPECT_EQ(g_made[0].use, "small");
  EXPECT_EQ(g_made[1].p, big_data);
  EXPECT_EQ(g_made[1].bytes, std::size_t(4) << 20) << "whole 2 MiB pages";
  EXPECT_TRUE(g_made[1].own_pages);
  EXPECT_EQ(g_made[1].use, "buffers") << "the default use";
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big_data) % (std::size_t(2) << 20), 0u);
  ASSERT_EQ(g_released.size(), 2u);
  for (const HookCall& made : g_made)
    EXPECT_EQ(std::count_if(g_released.begin(), g_released.end(), [&](const HookCall& r) { return r.p == made.p && r.bytes == made.bytes; }), 1);
  EXPECT_EQ(g_unmapped_at_release, 0) << "released before it is unmapped";
}

// Property: a memory binding that fails (node 200: no machine here has it, so hwloc and the kernel
// refuse it) is counted as failed, printed once per node, call and errno as a `note:` with the
// errno, and the pages it would have placed are reported where they are.
TEST(BindingFailure, IsANoteWithItsErrno) {
  static int repeat = 0;  // notes are printed once per node: a repeated run (--gtest_repeat) takes the next node
  const int kMissingNode = 200 + repeat++ % 50;
  const std::string errno_text = "(errno " + std::to_string(EINVAL) + ": " + std::strerror(EINVAL) + ")";
  const BindingCounts before = binding_counts(kMissingNode);
  set_area_binder(&bind_area_to_this_domain);
  testing::internal::CaptureStderr();
  int node_touched = -1;
  on_one_cpu([&] {
    Domain missing;
    missing.os_index = kMissingNode;
    missing.cpus = thread_cpus();
    missing.threads = 1;
    bind_thread(missing);
    bind_thread(missing);  // the same failure again: counted, not printed again
    PageBuffer doomed(std::size_t(4) << 20, "doomed buffer");
    std::memset(doomed.data(), 1, doomed.size());
    node_touched = current_cpu_node();
  });
  const std::string notes = testing::internal::GetCapturedStderr();
  set_area_binder(nullptr);
  const std::string node = std::to_string(kMissingNode);
  EXPECT_EQ(notes, "note: --numa: cannot bind a thread's memory to NUMA node " + node + " " + errno_text +
                       "; it allocates on the node it runs on, as without --numa\n"
                       "note: --numa: cannot bind a large buffer to NUMA node " + node + " " + errno_text +
                       "; its pages go where they are first touched\n");
  const BindingCounts after = binding_counts(kMissingNode);
  EXPECT_EQ(after.cpu_binds - before.cpu_binds, 2);
  EXPECT_EQ(after.memory_binds - before.memory_binds, 0);
  EXPECT_EQ(after.memory_bind_failures - before.memory_bind_failures, 2);
  EXPECT_EQ(after.area_binds - before.area_binds, 0);
  EXPECT_EQ(after.area_bind_failures - before.area_bind_failures, 1);
  EXPECT_EQ(after.memory_bind_errno, EINVAL);
  EXPECT_EQ(after.area_bind_errno, EINVAL);
  // The buffer was sampled as it was freed: all on the node that first touched it.
  const std::string line = describe_bindings();
  const std::string expected = "node " + node + ": 2 thread bindings to its cores, 0 to its memory (2 failed: errno " + std::to_string(EINVAL) +
                               "), 0 large buffers bound to it (1 failed: errno " + std::to_string(EINVAL) + "), sampled pages on node " + node +
                               ": doomed buffer 0/64 (64 on node " + std::to_string(node_touched) + "), and the kernel lets this process use no memory on node " +
                               node + " (a pretend topology, or a cpuset without it)";
  EXPECT_NE(line.find(expected), std::string::npos) << line;
}

}  // namespace
}  // namespace qwen3::numa
