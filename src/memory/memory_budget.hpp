#pragma once
// How much memory this process may still take before the operating system steps in, read before any
// large allocation so that a run that cannot fit ends with one line instead of the OOM killer.
// Why both sources: on a shared HPC node the job's cgroup (Slurm, a container) is the real limit and
// is often far below the machine's MemAvailable; on a laptop there is no cgroup limit at all.
#include <cstdint>
#include <string>

namespace qwen3 {

struct AvailableMemory {
  std::uint64_t bytes = 0;
  std::string source;  // where the figure came from, for messages: "cgroup memory limit", "MemAvailable", ...
};

// The smaller of MemAvailable (/proc/meminfo) and, for every cgroup above this process that has a
// memory limit (v1 memory.limit_in_bytes, v2 memory.max), the limit minus the cgroup's working set
// (usage less its inactive file pages, which the kernel reclaims first, as Kubernetes counts it).
// QWEN3_MEMORY_AVAILABLE=BYTES replaces the measurement (source "QWEN3_MEMORY_AVAILABLE"): it lets a
// user keep room for other jobs on the node, and lets the tests ask for a machine smaller than this one.
// Throws qwen3::Error when QWEN3_MEMORY_AVAILABLE is not a byte count.
AvailableMemory available_memory();

// One number per memory system: processes with the same id draw on the same RAM (they run under
// one kernel: the boot id; network namespaces share it, separate hosts do not). Non-negative, fits an int.
int memory_system_id();

// "1.50 GiB", "512 B": powers of 1024, two decimals above bytes.
std::string format_bytes(double bytes);

}  // namespace qwen3
