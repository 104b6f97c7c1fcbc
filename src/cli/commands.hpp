#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/id_list.hpp"  // format_id_list
#include "cli/options.hpp"
#include "kv/kv_policy.hpp"
#include "qwen3/comm.hpp"

namespace qwen3::cli {

int run_generate(const GenerateOptions& opt, const std::atomic<bool>& interrupted, Communicator& world);
int run_tokenize(const TokenizeOptions& opt);
int run_eval(const EvalCommandOptions& opt, Communicator& world);
std::string version_text();

// The whole file as raw bytes (-f prompts, eval texts). `what` names it in the one-line errors
// ("PATH: prompt file not found ...").
std::string read_input_file(const std::string& path, const std::string& what);

inline KvPolicyOptions kv_policy_options(const KvPolicyFlags& f, std::uint64_t seed) {
  KvPolicyOptions o;
  o.kind = parse_kv_policy(f.kind);
  o.sink = f.sink;
  o.window = f.window;
  o.heavy = f.heavy;
  o.evict_chunk = f.evict_chunk;
  o.seed = seed;
  return o;
}

}  // namespace qwen3::cli
