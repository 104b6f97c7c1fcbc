#pragma once
// What each command of `qwen3_mpi` parses beside the shared RuntimeOptions (engine/runtime.hpp):
// generation (the default command), eval and tokenize.
#include <cstdint>
#include <optional>
#include <string>

#include "engine/runtime.hpp"

namespace qwen3::cli {

struct GenerateOptions {
  RuntimeOptions runtime;
  std::optional<std::string> prompt;       // -p; an explicit empty string is an error
  std::string prompt_file;                 // -f
  std::int64_t n_predict = 128;            // -n; -1 = until end-of-text or context full
  std::string verify_ids;                  // --verify 151644,872
  std::int64_t gen_len = -1;               // --gen-len (with --verify)
  bool json = false;
  bool chat = false;
  bool no_think = false;
  bool interactive = false;
  std::optional<float> temperature, top_p, min_p, repeat_penalty;
  std::optional<std::int32_t> top_k;
  std::int32_t repeat_last_n = -1;  // -1: the whole context, as transformers
  bool stats = false;                      // --stats: time and bytes in collectives per token
};

struct EvalCommandOptions {
  RuntimeOptions runtime;
  std::string text_file;
  std::int64_t max_tokens = 0;  // 0: the whole file
  std::int64_t report_every = 256;
  std::int64_t chunk = 0;
  bool json = false;
  std::string csv_file;
};

struct TokenizeOptions {
  std::string model_dir;
  std::string text;
  bool json = false;
};

}  // namespace qwen3::cli
