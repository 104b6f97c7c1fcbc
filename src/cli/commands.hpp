#pragma once
#include <atomic>

#include "cli/options.hpp"

namespace qwen3::cli {

int run_generate(const GenerateOptions& opt, const std::atomic<bool>& interrupted);
int run_tokenize(const TokenizeOptions& opt);
std::string version_text();

}  // namespace qwen3::cli
