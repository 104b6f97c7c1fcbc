#include "engine/threads.hpp"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace qwen3 {
namespace {

int usable_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, omp_get_num_procs());
}

// OMP_NUM_THREADS as a positive count (its first entry, for a nested list), else 0. Batch scripts
// set it from SLURM_CPUS_PER_TASK, and a user who sets it expects it to hold.
int omp_num_threads_env() {
  const char* v = std::getenv("OMP_NUM_THREADS");
  if (v == nullptr) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end != v && (*end == '\0' || *end == ',') && n > 0 && n <= 1 << 16 ? static_cast<int>(n) : 0;
}

int team_size() {
  int n = 1;
#pragma omp parallel
  {
#pragma omp single
    n = omp_get_num_threads();
  }
  return n;
}

}  // namespace

ThreadCount set_thread_count(int requested) {
  ThreadCount t;
  t.requested = requested;
  t.cores = usable_cores();
  const int env = omp_num_threads_env();
  const int want = requested > 0 ? requested : env > 0 ? env : t.cores;
  omp_set_num_threads(want);
  t.granted = std::max(1, std::min(want, team_size()));
  if (t.granted != want) omp_set_num_threads(t.granted);
  return t;
}

std::string thread_count_notes(const ThreadCount& t) {
  std::string s;
  const int env = omp_num_threads_env();
  const int want = t.requested > 0 ? t.requested : env > 0 ? env : t.cores;
  if (t.granted < want)
    s += "note: " + std::to_string(want) + " threads asked for, the OpenMP runtime gives " + std::to_string(t.granted) +
         " (OMP_THREAD_LIMIT or the runtime's own limit); running with " + std::to_string(t.granted) + "\n";
  if (t.granted > t.cores)
    s += "note: " + std::to_string(t.granted) + " threads on " + std::to_string(t.cores) +
         " usable cores: threads share cores, which is slower than -t " + std::to_string(t.cores) + "\n";
  return s;
}

}  // namespace qwen3
