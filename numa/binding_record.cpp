#include "numa/binding_record.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "numa/page_placement.hpp"
#include "numa/topology.hpp"

namespace qwen3::numa {
namespace {

constexpr int kMaxNodes = 256;
constexpr int kSampledPagesPerBuffer = 64;

struct Counters {
  std::atomic<long> cpu{0}, memory{0}, area{0}, memory_failed{0}, area_failed{0};
  std::atomic<int> memory_errno{0}, area_errno{0};
};
std::array<Counters, kMaxNodes> g_counts;
Counters& counts_for(int node) { return g_counts[static_cast<std::size_t>(std::clamp(node, 0, kMaxNodes - 1))]; }

struct TrackedBuffer {
  std::size_t bytes = 0;
  int node = 0;
  const char* use = "";
};

struct Record {
  std::mutex m;
  std::map<const void*, TrackedBuffer> live;                // by start address
  std::map<int, std::vector<UsePlacement>> released;        // by node: the samples taken at release
  std::set<std::tuple<int, const char*, int>> noted;        // (node, call, errno) already printed
};
// Never destroyed: a buffer may be released after static destruction began.
Record& record() {
  static Record* r = new Record;
  return *r;
}

PagePlacement& placement_of(std::vector<UsePlacement>& uses, const char* use) {
  auto it = std::find_if(uses.begin(), uses.end(), [&](const UsePlacement& u) { return u.use == use; });
  if (it == uses.end()) it = uses.insert(uses.end(), UsePlacement{use, {}});
  return it->pages;
}

// Once per node, call and errno: a team of many threads, or many buffers, fail alike.
void note_failure(int node, const char* call, int error, const char* consequence) {
  Record& r = record();
  std::lock_guard lock(r.m);
  if (!r.noted.insert({node, call, error}).second) return;
  std::fprintf(stderr, "note: --numa: cannot bind %s to NUMA node %d (errno %d: %s); %s\n", call, node, error, std::strerror(error), consequence);
  std::fflush(stderr);
}

// "1 to its memory" or "0 to its memory (1 failed: errno 22)".
std::string count_with_failures(long done, const char* what, long failed, int error) {
  std::string s = std::to_string(done) + what;
  if (failed > 0) s += " (" + std::to_string(failed) + " failed: errno " + std::to_string(error) + ")";
  return s;
}

// "weights 0/64 (64 on node 0)": the sampled pages on `node` out of those with memory behind them,
// then where the others are and how many had none yet.
std::string describe_placement(const UsePlacement& u, int node) {
  const PagePlacement& p = u.pages;
  std::string s = u.use + " " + std::to_string(p.on(node)) + "/" + std::to_string(p.resident());
  std::vector<std::string> details;
  for (std::size_t other = 0; other < p.pages_on_node.size(); ++other)
    if (static_cast<int>(other) != node && p.pages_on_node[other] > 0)
      details.push_back(std::to_string(p.pages_on_node[other]) + " on node " + std::to_string(other));
  if (p.untouched > 0) details.push_back(std::to_string(p.untouched) + " not yet touched");
  if (p.unknown > 0) details.push_back(std::to_string(p.unknown) + " the kernel could not place");
  for (std::size_t i = 0; i < details.size(); ++i) s += (i ? ", " : " (") + details[i] + (i + 1 == details.size() ? ")" : "");
  return s;
}

}  // namespace

void record_cpu_bind(int node) { ++counts_for(node).cpu; }

void record_memory_bind(int node, int error) {
  Counters& c = counts_for(node);
  if (error == 0) {
    ++c.memory;
    return;
  }
  ++c.memory_failed;
  c.memory_errno = error;
  note_failure(node, "a thread's memory", error, "it allocates on the node it runs on, as without --numa");
}

void record_area_bind(int node, int error) {
  Counters& c = counts_for(node);
  if (error == 0) {
    ++c.area;
    return;
  }
  ++c.area_failed;
  c.area_errno = error;
  note_failure(node, "a large buffer", error, "its pages go where they are first touched");
}

bool track_buffer(const void* p, std::size_t bytes, int node, const char* use) noexcept {
  try {
    Record& r = record();
    std::lock_guard lock(r.m);
    r.live[p] = TrackedBuffer{bytes, node, use};
    return true;
  } catch (...) {  // out of memory for the record: the buffer itself is fine, it just goes unsampled
    return false;
  }
}

void forget_buffer(void* p, std::size_t /*bytes: as tracked*/) noexcept {
  Record& r = record();
  std::lock_guard lock(r.m);
  const auto it = r.live.find(p);
  if (it == r.live.end()) return;
  const TrackedBuffer& b = it->second;
  try {
    placement_of(r.released[b.node], b.use).add(sample_placement(p, b.bytes, kSampledPagesPerBuffer));
  } catch (...) {  // out of memory while freeing: the sample is lost, the record stays consistent
  }
  r.live.erase(it);
}

BindingCounts binding_counts(int os_index) {
  const Counters& c = counts_for(os_index);
  return {c.cpu.load(), c.memory.load(), c.area.load(), c.memory_failed.load(), c.area_failed.load(), c.memory_errno.load(), c.area_errno.load()};
}

std::vector<UsePlacement> sampled_placement(int os_index) {
  Record& r = record();
  std::lock_guard lock(r.m);
  std::vector<UsePlacement> uses;
  if (const auto it = r.released.find(os_index); it != r.released.end()) uses = it->second;
  for (const auto& [p, b] : r.live)
    if (b.node == os_index) placement_of(uses, b.use).add(sample_placement(p, b.bytes, kSampledPagesPerBuffer));
  // By name: whether a buffer was sampled live or at its release must not change the order.
  std::sort(uses.begin(), uses.end(), [](const UsePlacement& a, const UsePlacement& b) { return a.use < b.use; });
  return uses;
}

std::string describe_bindings() {
  const std::vector<int> allowed = allowed_memory_nodes();
  std::string s;
  for (int node = 0; node < kMaxNodes; ++node) {
    const BindingCounts c = binding_counts(node);
    if (c.cpu_binds == 0) continue;
    s += std::string(s.empty() ? "" : "; ") + "node " + std::to_string(node) + ": " + std::to_string(c.cpu_binds) + " thread bindings to its cores, " +
         count_with_failures(c.memory_binds, " to its memory", c.memory_bind_failures, c.memory_bind_errno) + ", " +
         count_with_failures(c.area_binds, " large buffers bound to it", c.area_bind_failures, c.area_bind_errno);
    const std::vector<UsePlacement> uses = sampled_placement(node);
    for (std::size_t i = 0; i < uses.size(); ++i) s += (i ? ", " : ", sampled pages on node " + std::to_string(node) + ": ") + describe_placement(uses[i], node);
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), node) == allowed.end())
      s += ", and the kernel lets this process use no memory on node " + std::to_string(node) + " (a pretend topology, or a cpuset without it)";
  }
  return s;
}

}  // namespace qwen3::numa
