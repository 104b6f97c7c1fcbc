// qwen3_mpi: command-line entry. Parses the options (cli/command_line.cpp), plans the NUMA domains,
// starts MPI when a launcher started this process, and runs the command on each member
// (cli/launch.cpp). Exit codes: 0 success, 1 bad input (one line on stderr), 2 internal error.
#include <cstdio>
#include <variant>

#include "cli/command_line.hpp"
#include "cli/launch.hpp"
#include "mpi/mpi_runtime.hpp"
#include "numa/topology.hpp"
#include "qwen3/error.hpp"

namespace {

// The NUMA domains this process runs a member on (none planned for tokenize or --numa off), or the
// exit status after a bad plan.
std::variant<int, qwen3::numa::DomainPlan> plan_domains(qwen3::cli::ParsedCommand& cmd) {
  qwen3::numa::DomainPlan plan;
  if (cmd.kind == qwen3::cli::ParsedCommand::Kind::Tokenize || cmd.runtime().numa != "auto") return plan;
  const bool speaker = qwen3::mpi::launcher_rank() == 0;
  try {
    plan = qwen3::numa::plan_domains(cmd.runtime().threads);
  } catch (const qwen3::Error& e) {
    if (speaker) std::fprintf(stderr, "qwen3_mpi: error: %s\n", qwen3::one_line(e.what()).c_str());
    return 1;
  }
  if (speaker) std::fputs(plan.notes.c_str(), stderr);
  return plan;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = qwen3::cli::parse_command_line(argc, argv);
  if (const int* rc = std::get_if<int>(&parsed)) return *rc;
  auto& cmd = std::get<qwen3::cli::ParsedCommand>(parsed);
  auto planned = plan_domains(cmd);
  if (const int* rc = std::get_if<int>(&planned)) return *rc;
  const auto& plan = std::get<qwen3::numa::DomainPlan>(planned);
  if (!qwen3::mpi::launched_by_mpi()) return qwen3::cli::run_process(cmd, qwen3::local_communicator(), plan, false);
  try {
    // Domain members of several processes call MPI from their own threads.
    qwen3::mpi::MpiRuntime mpi(argc, argv, plan.domains.size() > 1);
    // Rank 0 talks to the user; the others' stdout would only repeat it.
    if (mpi.world().rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return 2;
    return qwen3::cli::run_process(cmd, mpi.world(), plan, true);
  } catch (const qwen3::Error& e) {
    std::fprintf(stderr, "qwen3_mpi: error: %s\n", qwen3::one_line(e.what()).c_str());
    return 2;
  }
}
