#pragma once
// Command-line options of `qwen3_mpi` (generation, the default) and `qwen3_mpi tokenize`.
#include <cstdint>
#include <optional>
#include <string>

namespace qwen3::cli {

// KV cache eviction flags, shared by generation and eval (kv/kv_policy.hpp says what each means).
struct KvPolicyFlags {
  std::string kind = "full";           // --kv-policy
  std::optional<std::int64_t> sink;    // --sink; not given: the policy's default
  std::int64_t window = 252;           // --window
  std::optional<std::int64_t> heavy;   // --heavy (h2o); not given: = --window
  std::int64_t evict_chunk = 1;        // --evict-chunk
};

struct GenerateOptions {
  std::string model_dir;
  std::optional<std::string> prompt;       // -p; an explicit empty string is an error
  std::string prompt_file;                 // -f
  std::int64_t n_predict = 128;            // -n; -1 = until end-of-text or context full
  int threads = 0;                         // -t; 0 = the cores this process may run on
  std::string numa_description;            // set by main for a NUMA domain's member: the load line names the domains
  std::int64_t ctx_size = 0;               // -c; 0 = the model's max_position_embeddings
  std::string attention = "streaming";
  std::string kernel = "auto";
  std::string gemm = "onednn";
  std::string kv_type = "auto";
  std::int64_t kv_block = 64;
  std::string verify_ids;                  // --verify 151644,872
  std::int64_t gen_len = -1;               // --gen-len (with --verify)
  bool use_mmap = false;                   // --mmap: run from the file mapping (no copy)
  bool json = false;
  bool chat = false;
  bool no_think = false;
  bool interactive = false;
  std::optional<float> temperature, top_p, min_p, repeat_penalty;
  std::optional<std::int32_t> top_k;
  std::int32_t repeat_last_n = -1;  // -1: the whole context, as transformers
  std::uint64_t seed = 0;
  bool seed_given = false;
  KvPolicyFlags kv;                        // --kv-policy, --sink, --window, --heavy, --evict-chunk
  int tp = 0;                              // --tp / --sp: the rank layout (0: chosen)
  int sp = 0;
  bool stats = false;                      // --stats: time and bytes in collectives per token
};

struct EvalCommandOptions {
  std::string model_dir;
  std::string text_file;
  std::int64_t max_tokens = 0;  // 0: the whole file
  std::string attention = "streaming";
  std::string kernel = "auto";
  std::string gemm = "onednn";
  std::string kv_type = "auto";
  std::int64_t kv_block = 64;
  std::int64_t report_every = 256;
  std::int64_t chunk = 0;
  int threads = 0;
  std::string numa_description;  // as GenerateOptions
  bool json = false;
  std::string csv_file;
  KvPolicyFlags kv;
  std::uint64_t seed = 0;
  int tp = 0;
  int sp = 0;
};

struct TokenizeOptions {
  std::string model_dir;
  std::string text;
  bool json = false;
};

}  // namespace qwen3::cli
