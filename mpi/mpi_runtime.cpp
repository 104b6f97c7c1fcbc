#include "mpi/mpi_runtime.hpp"

#include <mpi.h>

#include <cstdlib>

#include "mpi/mpi_communicator.hpp"
#include "qwen3/error.hpp"

namespace qwen3::mpi {

bool launched_by_mpi() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx launchers (srun --mpi=pmix, prterun) set
  // PMIX_RANK; MPICH-style launchers set PMI_RANK.
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(var)) return true;
  return false;
}

int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  return 0;
}

MpiRuntime::MpiRuntime(int& argc, char**& argv, bool threads_call_mpi) {
  int provided = 0;
  const int level = threads_call_mpi ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED;
  if (MPI_Init_thread(&argc, &argv, level, &provided) != MPI_SUCCESS) throw Error("MPI_Init_thread failed");
  if (provided < level)
    throw Error(threads_call_mpi ? "the MPI library does not allow MPI calls from several threads (MPI_THREAD_MULTIPLE), which NUMA "
                                   "domains inside a rank need; use --numa off with one rank per domain (mpirun --map-by numa)"
                                 : "the MPI library does not allow OpenMP threads beside MPI (MPI_THREAD_FUNNELED)");
  world_ = world_communicator();
}

MpiRuntime::~MpiRuntime() {
  world_.reset();
  MPI_Finalize();
}

void abort_job(int exit_code) { MPI_Abort(MPI_COMM_WORLD, exit_code); std::exit(exit_code); }

}  // namespace qwen3::mpi
