#pragma once
// The command-line face of RuntimeOptions: one function adds the options every model-running
// command shares (generate, eval, and the batch and serve commands to come) to a CLI11 command.
#include <CLI/CLI.hpp>

#include <cstdint>

#include "engine/runtime.hpp"

namespace qwen3::cli {

// CLI::Range, but "abc" is "not an integer" rather than "not in range", and a value past int64 is
// out of range rather than saturated.
CLI::Validator int_range(std::int64_t lo, std::int64_t hi);

// -m, -t, --attention, --kernel, --gemm, --kv-type, --kv-block, --mmap, --kv-policy and its flags,
// --seed, --tp, --sp, --numa. `seed_help` says what the seed seeds in this command.
void add_runtime_options(CLI::App& command, RuntimeOptions& options, const std::string& seed_help);

// After parsing: what CLI11 cannot record in the struct itself (whether --seed was given).
void finish_runtime_options(const CLI::App& command, RuntimeOptions& options);

}  // namespace qwen3::cli
