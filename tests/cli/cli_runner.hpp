#pragma once
// Runs one program as a child process: arguments, environment, stdin from a file, stdout and stderr
// captured apart, a hard time limit. The child leads a process group of its own, so a hung run is
// ended with everything it started (mpiexec and its ranks).
#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace qwen3::test::cli {

using Args = std::vector<std::string>;

// Variables set in the child's environment on top of this process's own.
using Env = std::vector<std::pair<std::string, std::string>>;

struct Command {
  Args argv;                         // argv[0] is the program (a path, not looked up in PATH)
  Env env;
  std::filesystem::path stdin_file;  // empty: /dev/null
  std::chrono::seconds timeout{20};
  std::vector<int> cpus;             // the child may run on these CPUs only; empty: as this process
};

struct RunResult {
  std::string command_line;  // shell-quoted, with the environment set, for messages
  std::string out, err;
  int exit_code = -1;        // valid when the child exited by itself
  int signal = 0;            // the signal that ended it, 0 if it exited
  bool timed_out = false;
  double seconds = 0;

  bool exited() const { return signal == 0 && !timed_out; }
  // The command, how it ended, and what it printed (stdout cut to its first 4000 bytes).
  std::string describe() const;
};

// Runs `c` to its end or its time limit. Throws std::runtime_error when the child cannot be started.
RunResult run(const Command& c);

// `arg` quoted for a POSIX shell where it needs to be.
std::string shell_quote(const std::string& arg);

}  // namespace qwen3::test::cli
