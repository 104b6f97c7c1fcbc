// main() of the MPI test binary: every rank runs every test (they are collective); rank 0 prints the
// results, and a failure on any rank makes that rank, and so mpiexec, exit non-zero.
#include <gtest/gtest.h>

#include "mpi/mpi_runtime.hpp"
#include "mpi_test_world.hpp"

namespace qwen3::test {
Communicator* g_world = nullptr;
}

int main(int argc, char** argv) {
  qwen3::mpi::MpiRuntime mpi(argc, argv);
  qwen3::test::g_world = &mpi.world();
  ::testing::InitGoogleTest(&argc, argv);
  if (mpi.world().rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  return RUN_ALL_TESTS();
}
