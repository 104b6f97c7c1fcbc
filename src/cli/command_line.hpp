#pragma once
// The option table of `qwen3_mpi` and its subcommands, parsed once per process (before MPI starts and
// before the NUMA domains' threads do, so a bad option is one line however many members there are).
#include <variant>

#include "cli/options.hpp"

namespace qwen3::cli {

struct ParsedCommand {
  enum class Kind { Generate, Tokenize, Eval, Batch, Serve } kind = Kind::Generate;
  GenerateOptions generate;
  TokenizeOptions tokenize;
  EvalCommandOptions eval;
  BatchCommandOptions batch;
  ServeCommandOptions serve;
  // The runtime options of the command that runs the model (generate, eval, batch or serve).
  RuntimeOptions& runtime() {
    switch (kind) {
      case Kind::Eval: return eval.runtime;
      case Kind::Batch: return batch.runtime;
      case Kind::Serve: return serve.runtime;
      default: return generate.runtime;
    }
  }
  const RuntimeOptions& runtime() const { return const_cast<ParsedCommand*>(this)->runtime(); }
};

// The command, or the exit status after --help, --version or a parse error (printed by the
// launcher's rank 0 only).
std::variant<int, ParsedCommand> parse_command_line(int argc, char** argv);

}  // namespace qwen3::cli
