#pragma once
// The MPI job this process belongs to, if any. main() asks launched_by_mpi() before touching MPI, so a
// plain `./qwen3_mpi` never initialises it (Open MPI's singleton start-up forks a helper daemon and
// costs ~0.1 s) and runs on LocalCommunicator exactly as before.
#include <memory>

#include "qwen3/comm.hpp"

namespace qwen3::mpi {

// True when a launcher started this process as a rank (mpirun/mpiexec, or srun with PMIx).
bool launched_by_mpi();

// This process's rank as the launcher's environment gives it, before MPI starts (0 when not launched
// by one): who prints a bad option.
int launcher_rank();

// MPI_Init_thread on construction, MPI_Finalize on destruction. Funneled (only the main thread calls
// MPI; OpenMP teams compute between calls), or multiple when the members of several NUMA domains call
// it from their own threads (threads_call_mpi).
class MpiRuntime {
 public:
  MpiRuntime(int& argc, char**& argv, bool threads_call_mpi = false);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  Communicator& world() { return *world_; }

 private:
  std::unique_ptr<Communicator> world_;
};

// Ends every rank of the job at once, for failures only this rank saw (after its one-line message).
[[noreturn]] void abort_job(int exit_code);

}  // namespace qwen3::mpi
