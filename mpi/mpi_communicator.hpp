#pragma once
// qwen3::Communicator over an MPI communicator. The header is free of <mpi.h> (the class lives in the
// .cpp), so only mpi/ is compiled against MPI.
#include <memory>

#include "qwen3/comm.hpp"

namespace qwen3::mpi {

// A Communicator over MPI_COMM_WORLD (the caller has initialised MPI: MpiRuntime).
std::unique_ptr<Communicator> world_communicator();

// The packed-state merge as MPI sees it: inout[i] <- in[i] (+) inout[i] for `rows` rows of
// head_dim + 2 floats. Exposed so tests can check the MPI_Op body against merge_rows directly.
void merge_op_body(const float* in, float* inout, int rows, int head_dim);

}  // namespace qwen3::mpi
