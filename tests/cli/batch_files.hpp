#pragma once
// Input and output files of `qwen3_mpi batch` for the command-line cases: writing a JSON-lines input,
// reading the results back by id.
#include <map>
#include <string>

#include "cli_case.hpp"

namespace qwen3::test::cli {

// Writes `lines` (one JSON text each, '\n' after each) to `path`.
void write_lines(const std::filesystem::path& path, const std::vector<std::string>& lines);

// The output's lines by id; a repeated id or a line that is not a JSON object with an id is a finding.
std::map<std::string, nlohmann::json> results_by_id(const std::filesystem::path& path, Findings& f);

// A prompt file of `n` greedy requests over the default model's text: ids q0 .. q{n-1}.
std::vector<std::string> greedy_requests(int n, int max_tokens);

}  // namespace qwen3::test::cli
