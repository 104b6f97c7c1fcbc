#include "memory/memory_budget.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::string> read_small_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::uint64_t> read_u64(const std::filesystem::path& p) {
  const auto text = read_small_file(p);
  return text ? parse_u64(*text) : std::nullopt;
}

// "key value" lines (memory.stat, /proc/meminfo without the "kB").
std::optional<std::uint64_t> find_stat(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  std::string k, v;
  while (in >> k >> v) {
    if (!k.empty() && k.back() == ':') k.pop_back();
    if (k == key) return parse_u64(v);
    std::getline(in, v);  // the rest of the line ("kB")
  }
  return std::nullopt;
}

// Limit minus working set of one cgroup directory, if it has a limit.
std::optional<std::uint64_t> cgroup_room(const std::filesystem::path& dir, bool v2) {
  const std::optional<std::uint64_t> limit = read_u64(dir / (v2 ? "memory.max" : "memory.limit_in_bytes"));  // v2 "max": none
  if (!limit || *limit >= (std::uint64_t(1) << 60)) return std::nullopt;  // v1 writes ~2^63 for "no limit"
  const std::uint64_t usage = read_u64(dir / (v2 ? "memory.current" : "memory.usage_in_bytes")).value_or(0);
  std::uint64_t reclaimable = 0;
  if (const auto stat = read_small_file(dir / "memory.stat"))
    reclaimable = find_stat(*stat, v2 ? "inactive_file" : "total_inactive_file").value_or(0);
  const std::uint64_t working_set = usage > reclaimable ? usage - reclaimable : 0;
  return *limit > working_set ? *limit - working_set : 0;
}

// The tightest limit over this process's memory cgroup and its ancestors (levels a container cannot
// see are skipped).
std::optional<std::uint64_t> cgroup_available() {
  const auto self = read_small_file("/proc/self/cgroup");
  if (!self) return std::nullopt;
  std::optional<std::uint64_t> best;
  std::istringstream lines(*self);
  std::string line;
  while (std::getline(lines, line)) {
    const auto c1 = line.find(':'), c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    const std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::filesystem::path rel = line.substr(c2 + 1);
    bool v2 = false;
    std::filesystem::path root;
    if (controllers.empty() && std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers")) {
      v2 = true;
      root = "/sys/fs/cgroup";
    } else if (controllers == "memory" || controllers.find("memory,") == 0 || controllers.find(",memory") != std::string::npos) {
      root = "/sys/fs/cgroup/memory";
    } else {
      continue;
    }
    for (std::filesystem::path p = rel.relative_path();; p = p.parent_path()) {
      if (const auto room = cgroup_room(root / p, v2)) best = best ? std::min(*best, *room) : *room;
      if (p.empty()) break;
    }
  }
  return best;
}

std::optional<std::uint64_t> mem_available() {
  const auto text = read_small_file("/proc/meminfo");
  if (!text) return std::nullopt;
  const auto kib = find_stat(*text, "MemAvailable");
  return kib ? std::optional<std::uint64_t>(*kib * 1024) : std::nullopt;
}

}  // namespace

AvailableMemory available_memory() {
  if (const char* env = std::getenv("QWEN3_MEMORY_AVAILABLE"); env && *env) {
    const auto v = parse_u64(env);
    if (!v) throw Error(std::string("QWEN3_MEMORY_AVAILABLE=") + env + ": expected a number of bytes");
    return {*v, "QWEN3_MEMORY_AVAILABLE"};
  }
  const std::optional<std::uint64_t> meminfo = mem_available(), cgroup = cgroup_available();
  if (cgroup && (!meminfo || *cgroup < *meminfo)) return {*cgroup, "cgroup memory limit"};
  if (meminfo) return {*meminfo, "MemAvailable"};
  return {std::numeric_limits<std::uint64_t>::max(), "no limit known"};
}

int memory_system_id() {
  const std::string boot_id = read_small_file("/proc/sys/kernel/random/boot_id").value_or("unknown");
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : boot_id) h = (h ^ c) * 16777619u;
  return static_cast<int>(h & 0x7fffffffu);
}

std::string format_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024 && u < 5) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", b, units[u]);
  return buf;
}

}  // namespace qwen3
