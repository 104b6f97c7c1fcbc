#pragma once
// qwen3::Communicator over an MPI communicator. The header is free of <mpi.h> (the class lives in the
// .cpp), so only mpi/ is compiled against MPI.
#include <memory>

#include "qwen3/comm.hpp"

namespace qwen3::mpi {

// A Communicator over MPI_COMM_WORLD (the caller has initialised MPI: MpiRuntime).
std::unique_ptr<Communicator> world_communicator();

}  // namespace qwen3::mpi
