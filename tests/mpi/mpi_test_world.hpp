#pragma once
#include "qwen3/comm.hpp"

namespace qwen3::test {
// MPI_COMM_WORLD of the test job (set by test_mpi_main.cpp).
extern Communicator* g_world;
inline Communicator& world() { return *g_world; }
}  // namespace qwen3::test
