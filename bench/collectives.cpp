// bench/collectives: latency and bandwidth of the collectives the model makes, through the same
// Communicator it uses, at the message sizes one decode step or one prefill chunk sends. Run under
// mpiexec; rank 0 prints a table and writes JSON for bench/scaling_model.py.
//   mpiexec -n 2 build/bench/collectives [--reps 200] [--json out.json]
//   (over TCP: mpiexec --mca btl tcp,self --mca btl_tcp_if_include lo -n 2 build/bench/collectives)
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <vector>

#include "bench_util.hpp"
#include "mpi/mpi_runtime.hpp"
#include "qwen3/online_softmax.hpp"

namespace {

using qwen3::Communicator;

// Median seconds of one call of `op`, all ranks starting together (a barrier before each call).
double median_seconds(int reps, const std::function<void()>& op) {
  std::vector<double> t;
  op();
  for (int i = 0; i < reps; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    op();
    t.push_back(MPI_Wtime() - t0);
  }
  double m = qwen3::bench::median(t);
  MPI_Allreduce(MPI_IN_PLACE, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);  // the slowest rank's median
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  if (!qwen3::mpi::launched_by_mpi()) {
    std::fprintf(stderr, "collectives: run under mpiexec (e.g. mpiexec -n 2 %s)\n", argv[0]);
    return 1;
  }
  qwen3::mpi::MpiRuntime mpi(argc, argv);
  Communicator& world = mpi.world();
  CLI::App app{"Latency and bandwidth of the model's collectives"};
  int reps = 200;
  std::string json_path;
  app.add_option("--reps", reps, "calls per size (median)");
  app.add_option("--json", json_path, "write results as JSON");
  CLI11_PARSE(app, argc, argv);

  const bool speaker = world.rank() == 0;
  if (speaker) {
    std::printf("collectives: %d ranks | median of %d calls, slowest rank\n", world.size(), reps);
    std::printf("%-26s %12s %12s %12s\n", "collective", "bytes", "us", "GB/s");
  }
  nlohmann::json rows = nlohmann::json::array();
  auto report = [&](const char* name, std::size_t bytes, double secs) {
    if (!speaker) return;
    std::printf("%-26s %12zu %12.1f %12.3f\n", name, bytes, secs * 1e6, static_cast<double>(bytes) / secs / 1e9);
    rows.push_back({{"collective", name}, {"bytes", bytes}, {"seconds", secs}});
  };
  const std::int64_t head_dim = 128;
  const std::int64_t stride = qwen3::OnlineSoftmaxState::packed_size(head_dim);
  for (std::size_t floats : {std::size_t(1) << 10, std::size_t(1) << 12, std::size_t(1) << 14, std::size_t(1) << 16, std::size_t(1) << 18,
                             std::size_t(1) << 20}) {
    std::vector<float> x(floats, 1.f);
    report("allreduce_sum", floats * 4, median_seconds(reps, [&] { world.allreduce_sum(x); }));
  }
  for (std::int64_t rows_per_rank : {1, 16, 256, 4096}) {  // decode: a few heads; prefill: heads x tokens
    const std::int64_t rows_total = rows_per_rank * world.size();
    std::vector<float> states(static_cast<std::size_t>(rows_total * stride));
    for (std::int64_t r = 0; r < rows_total; ++r) qwen3::OnlineSoftmaxState(states.data() + r * stride, head_dim).reset();
    std::vector<float> mine(static_cast<std::size_t>(rows_per_rank * stride));
    std::vector<std::int64_t> counts(static_cast<std::size_t>(world.size()), rows_per_rank);
    report("merge_states_scatter", states.size() * 4,
           median_seconds(reps, [&] { world.merge_softmax_states_scatter(states, mine, counts, head_dim); }));
    report("merge_states_allreduce", states.size() * 4, median_seconds(reps, [&] { world.merge_softmax_states(states, head_dim); }));
  }
  for (std::size_t floats : {std::size_t(1) << 10, std::size_t(1) << 14, std::size_t(1) << 18}) {
    std::vector<float> mine(floats), all(floats * static_cast<std::size_t>(world.size()));
    std::vector<std::int64_t> counts(static_cast<std::size_t>(world.size()), static_cast<std::int64_t>(floats));
    report("allgather", all.size() * 4, median_seconds(reps, [&] { world.allgather(mine, all, counts); }));
  }
  {
    float v[1] = {1.f};
    std::int32_t i[1] = {world.rank()};
    report("argmax", 8, median_seconds(reps, [&] { world.argmax(v, i); }));
  }
  if (speaker) qwen3::bench::write_json(json_path, {{"benchmark", "collectives"}, {"ranks", world.size()}, {"rows", rows}});
  return 0;
}
