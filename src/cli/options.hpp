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
  std::string predictions_file;  // --predictions: each scored position's arg-max id, one per line
};

struct BatchCommandOptions {
  RuntimeOptions runtime;
  std::string input, output;     // JSON lines in; JSON lines out, appended and resumed
  std::int64_t max_tokens = 128;  // for a line without max_tokens
  std::int64_t max_running = 16;  // sequences in one step
  std::int64_t token_budget = 256;
  bool no_think = false;         // messages: the empty think block (enable_thinking=False)
  bool batch_invariant = false;
  bool prefix_cache = true;
};

struct ServeCommandOptions {
  RuntimeOptions runtime;
  std::string host = "127.0.0.1";  // another address only when asked
  int port = 8080;                 // 0: any free port
  std::string api_key;             // --api-key or QWEN3_API_KEY; empty: none asked for
  std::string model_name;          // --served-model-name; empty: the model folder's name
  std::int64_t max_running = 16;
  std::int64_t token_budget = 256;
  std::int64_t max_queue = 256;
  std::int64_t max_body_bytes = 1 << 20;
  int timeout_s = 30;
  int max_connections = 128;
  int drain_s = 30;
  bool batch_invariant = false;
  bool prefix_cache = true;
};

struct TokenizeOptions {
  std::string model_dir;
  std::string text;
  bool json = false;
};

}  // namespace qwen3::cli
