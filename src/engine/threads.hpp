#pragma once
// How many OpenMP threads a run really gets. Asked-for and granted can differ: OMP_THREAD_LIMIT, a
// cgroup, or -t above the cores. oneDNN sizes its work split by omp_get_max_threads(), and given a
// smaller team than that it silently skips part of a product: before this, OMP_THREAD_LIMIT=1 with
// -t 2 made --verify on tiny-gqa4 print [306, 218, ...] instead of transformers' [395, 6, ...]. So the
// count is set to what a team actually gets.
#include <string>

namespace qwen3 {

struct ThreadCount {
  int requested = 0;  // -t (0: the default: OMP_NUM_THREADS if set, else one per usable core)
  int cores = 0;      // cores this process may run on (its affinity mask, as mpirun or Slurm set it)
  int granted = 0;    // threads an OpenMP team really has; omp_get_max_threads() now returns this
};

// Sets the OpenMP thread count for what follows and reports it.
ThreadCount set_thread_count(int requested);

// One "note: ..." line per surprise (fewer threads than asked, more threads than cores), each ending
// in '\n'; empty when there is none.
std::string thread_count_notes(const ThreadCount& t);

}  // namespace qwen3
