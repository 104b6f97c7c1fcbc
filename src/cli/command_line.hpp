#pragma once
// The option table of `qwen3_mpi` and its subcommands, parsed once per process (before MPI starts and
// before the NUMA domains' threads do, so a bad option is one line however many members there are).
#include <variant>

#include "cli/options.hpp"

namespace qwen3::cli {

struct ParsedCommand {
  enum class Kind { Generate, Tokenize, Eval, Batch } kind = Kind::Generate;
  GenerateOptions generate;
  TokenizeOptions tokenize;
  EvalCommandOptions eval;
  BatchCommandOptions batch;
  // The runtime options of the command that runs the model (generate, eval or batch).
  RuntimeOptions& runtime() { return kind == Kind::Eval ? eval.runtime : kind == Kind::Batch ? batch.runtime : generate.runtime; }
  const RuntimeOptions& runtime() const { return const_cast<ParsedCommand*>(this)->runtime(); }
};

// The command, or the exit status after --help, --version or a parse error (printed by the
// launcher's rank 0 only).
std::variant<int, ParsedCommand> parse_command_line(int argc, char** argv);

}  // namespace qwen3::cli
