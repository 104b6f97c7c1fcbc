#pragma once
// How one parsed command runs on this process: as one member (a rank, or the whole program), or as one
// member per NUMA domain, each a thread leading its own team; and how a member's failure ends the run.
#include "cli/command_line.hpp"
#include "numa/topology.hpp"
#include "qwen3/comm.hpp"

namespace qwen3::cli {

// Runs `cmd` on this process (`procs`: the MPI world, or the local communicator; `mpi`: launched by
// mpirun/srun) with one member per domain of `plan`. Returns the exit status: 0, 1 for bad input (one
// line on stderr), 2 for an internal error. A failure only one member saw ends the whole job.
int run_process(const ParsedCommand& cmd, Communicator& procs, const numa::DomainPlan& plan, bool mpi);

}  // namespace qwen3::cli
