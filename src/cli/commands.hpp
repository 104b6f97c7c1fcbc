#pragma once
// The commands of `qwen3_mpi`: each parses nothing (cli/command_line.cpp did), sets up the shared
// runtime (engine/runtime.hpp) if it runs the model, and prints.
#include <atomic>
#include <string>

#include "cli/id_list.hpp"  // format_id_list
#include "cli/options.hpp"
#include "qwen3/comm.hpp"

namespace qwen3::cli {

int run_generate(const GenerateOptions& opt, const std::atomic<bool>& interrupted, Communicator& world);
int run_tokenize(const TokenizeOptions& opt);
int run_eval(const EvalCommandOptions& opt, Communicator& world);
int run_batch(const BatchCommandOptions& opt, const std::atomic<bool>& interrupted, Communicator& world);
int run_serve(const ServeCommandOptions& opt, const std::atomic<bool>& interrupted, Communicator& world);
std::string version_text();

// The whole file as raw bytes (-f prompts, eval texts). `what` names it in the one-line errors
// ("PATH: prompt file not found ...").
std::string read_input_file(const std::string& path, const std::string& what);

}  // namespace qwen3::cli
