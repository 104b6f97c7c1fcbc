#include "cli/launch.hpp"

#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "cli/stop_signals.hpp"
#include "engine/agreement.hpp"
#include "io/mapping_guard.hpp"
#include "memory/page_buffer.hpp"
#include "mpi/mpi_runtime.hpp"
#include "numa/shared_memory_communicator.hpp"
#include "parallel/hierarchical_communicator.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cli {
namespace {

int run_command(const ParsedCommand& cmd, Communicator& world) {
  switch (cmd.kind) {
    case ParsedCommand::Kind::Tokenize:
      return run_tokenize(cmd.tokenize);
    case ParsedCommand::Kind::Eval:
      return run_eval(cmd.eval, world);
    case ParsedCommand::Kind::Generate:
      return run_generate(cmd.generate, install_stop_signals(), world);
    case ParsedCommand::Kind::Batch:
      return run_batch(cmd.batch, install_stop_signals(), world);
    case ParsedCommand::Kind::Serve:
      return run_serve(cmd.serve, install_stop_signals(static_cast<unsigned>(cmd.serve.drain_s) + 5), world);
  }
  return 2;
}

// Every member's failure that this member cannot return from: print it, then end the whole job rather
// than leave the others waiting in a collective.
[[noreturn]] void end_job(int exit_code, bool mpi) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (mpi) mpi::abort_job(exit_code);
  std::_Exit(exit_code);
}

// One member's run: a rank, or one NUMA domain of a rank. Bad input every member sees alike is agreed
// and printed by member 0 alone (the others return the same code quietly); a failure only this member
// saw (RankError at an agreed check, JobFailure mid-run) is printed here with the member's number.
int run_member(const ParsedCommand& cmd, Communicator& world, bool mpi) {
  const bool several = world.size() > 1;
  try {
    return as_one_job(world, [&] { return run_command(cmd, world); });
  } catch (const FollowerExit& e) {
    return e.exit_code;
  } catch (const RankError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "qwen3_mpi: error: %s\n", one_line(e.what()).c_str());
    return 1;
  } catch (const JobFailure& e) {
    std::fprintf(stderr, "qwen3_mpi: error: %s; ending the job\n", one_line(e.what()).c_str());
    end_job(1, mpi);
  } catch (const Error& e) {
    std::fflush(stdout);
    if (world.rank() == 0) std::fprintf(stderr, "qwen3_mpi: error: %s\n", one_line(e.what()).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "qwen3_mpi: error: %sout of memory\n", several ? ("rank " + std::to_string(world.rank()) + ": ").c_str() : "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qwen3_mpi: internal error: %s\n", one_line(e.what()).c_str());
  }
  // Out of memory and internal errors may strike one member only.
  if (several || mpi) end_job(2, mpi);
  return 2;
}

// One member per NUMA domain of this process, each a thread leading its own team bound to the
// domain's cores, all members of one job with every other process's (parallel/hierarchical_communicator.hpp).
int run_domains(const ParsedCommand& cmd, Communicator& procs, const numa::DomainPlan& plan, bool mpi) {
  const int n = static_cast<int>(plan.domains.size());
  auto members = make_hierarchical_world(procs, numa::make_shared_memory_group(n));
  set_area_binder(&numa::bind_area_to_this_domain);
  std::vector<int> rc(static_cast<std::size_t>(n), 0);
  std::vector<std::thread> threads;
  for (int d = 0; d < n; ++d)
    threads.emplace_back([&, d] {
      const numa::Domain& domain = plan.domains[static_cast<std::size_t>(d)];
      ParsedCommand mine = cmd;
      mine.runtime().threads = domain.threads;
      mine.runtime().numa_description = plan.describe();
      try {
        // The team's master is this thread: bind_team binds it with the others.
        omp_set_num_threads(domain.threads);
        numa::bind_team(domain);
      } catch (const Error& e) {
        if (d == 0) std::fprintf(stderr, "qwen3_mpi: error: %s\n", one_line(e.what()).c_str());
        std::fflush(stderr);
        std::_Exit(1);  // before any collective: nobody waits for this member
      }
      rc[static_cast<std::size_t>(d)] = run_member(mine, *members[static_cast<std::size_t>(d)], mpi);
    });
  for (auto& t : threads) t.join();
  for (int code : rc)
    if (code != 0) return code;
  return 0;
}

}  // namespace

int run_process(const ParsedCommand& cmd, Communicator& procs, const numa::DomainPlan& plan, bool mpi) {
  // A shard truncated under a running job: one line, not "Bus error".
  guard_mapped_files(std::string("qwen3_mpi: error: ") + (procs.size() > 1 ? "rank " + std::to_string(procs.rank()) + ": " : ""));
  if (plan.domains.size() > 1) return run_domains(cmd, procs, plan, mpi);
  return run_member(cmd, procs, mpi);
}

}  // namespace qwen3::cli
