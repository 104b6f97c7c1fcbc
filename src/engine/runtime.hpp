#pragma once
// One runtime setup for every command (generate, eval, and the batch and serve front-ends to come):
// threads, kernels and the oneDNN probe, the model loaded on the ranks, the KV cache settings that fit
// the host's memory, the model's stop ids and the load line. A command parses its own options, asks
// for a Runtime, and then only runs sequences on it and prints.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attention/attention.hpp"
#include "attention/device_attention.hpp"
#include "engine/loaded_model.hpp"
#include "engine/threads.hpp"
#include "kernels/dispatch.hpp"
#include "kv/kv_policy.hpp"
#include "qwen3/comm.hpp"

namespace qwen3 {

// KV cache eviction as given on the command line (kv/kv_policy.hpp says what each policy means).
struct KvPolicyFlags {
  std::string kind = "full";           // --kv-policy
  std::optional<std::int64_t> sink;    // --sink; not given: the policy's default
  std::int64_t window = 252;           // --window
  std::optional<std::int64_t> heavy;   // --heavy (h2o); not given: = --window
  std::int64_t evict_chunk = 1;        // --evict-chunk
};

// The options every command that runs the model shares (cli/runtime_options.hpp adds them to a
// command line).
struct RuntimeOptions {
  std::string model_dir;               // -m; empty: the model shipped in models/
  int threads = 0;                     // -t; 0: OMP_NUM_THREADS if set, else the cores this process may use
  std::string attention = "streaming"; // standard | streaming
  std::string kernel = "auto";         // auto | scalar | avx2 | avx512
  std::string gemm = "onednn";         // onednn | native
  std::string decode_rows = "f32";     // f32 | bf16 (--decode-rows)
  std::string weights = "auto";        // auto | bf16 | q8 (--weights)
  std::string kv_type = "auto";        // auto | f32 | bf16
  std::int64_t kv_block = 64;          // tokens per KV block
  bool use_mmap = false;               // run from the file mapping instead of a huge-page copy
  std::int64_t context = 0;            // -c: tokens a sequence may hold; 0: the model's context, lowered to fit memory
  KvPolicyFlags kv;
  std::uint64_t seed = 0;              // sampling and the random eviction policy
  bool seed_given = false;
  int tp = 0, sp = 0;                  // the rank layout (0: chosen)
  std::string expert_split = "auto";  // auto | whole | rows (--expert-split)
  std::string device = "cpu";         // auto | cpu | cuda (--device): where attention runs
  std::string numa = "auto";           // auto | off
  std::string numa_description;        // set by the launcher for a NUMA domain's member: the load line names the domains
};

KvPolicyOptions kv_policy_options(const KvPolicyFlags& flags, std::uint64_t seed);

// The shipped default model: the only checkpoint folder under models/ next to the executable, one
// level up (build/qwen3_mpi -> models/), or in the source tree this binary was built from.
std::string find_default_model();

class Runtime {
 public:
  // Collective over `world`: every member sets up its threads and kernels, loads its share of the model
  // and agrees on the memory plan. `kv_request`
  // says what the command will ask of the cache. Bad input anywhere ends every member with one line
  // (an AgreedError on rank 0).
  Runtime(const RuntimeOptions& options, Communicator& world, const KvRequestFor& kv_request);

  const RuntimeOptions& options() const { return options_; }
  Communicator& world() const { return *world_; }
  bool speaker() const { return world_->rank() == 0; }  // rank 0 talks to the user
  const LoadedModel& loaded() const { return rank_.loaded; }
  Qwen3Model& model() const { return *rank_.loaded.model; }
  const Qwen3Config& config() const { return rank_.loaded.config; }
  const Tokenizer* tokenizer() const { return rank_.loaded.tokenizer ? &*rank_.loaded.tokenizer : nullptr; }
  const KvPolicyOptions& kv_policy() const { return kv_policy_; }
  bool bounded() const { return KvEvictionPolicy(kv_policy_).bounded(); }
  KvType kv_type() const { return kv_type_; }
  // Tokens the cache is made for: -c, the model's context, or as much of it as memory holds.
  std::int64_t context() const { return context_; }
  // " (lowered from 40960 to fit memory)" when the default context was lowered, else empty.
  std::string context_note() const;
  // Tokens of KV cache the memory plan made room for (all sequences together).
  std::int64_t planned_kv_tokens() const;
  // Tokens one sequence's cache holds (-c, a bounded policy's budget), or all sequences' (held_as).
  std::int64_t held_kv_tokens() const;
  // End-of-text ids: generation_config.json's eos ids and the tokenizer's <|im_end|>, <|endoftext|>.
  const std::vector<std::int32_t>& stop_ids() const { return stop_ids_; }
  // A cache for one sequence, on this member's heads and blocks.
  KvCache new_cache() const;
  // "load: DIR | 0.12 s | weights ... | kv cache ... | kernels ... | attention ... | threads N ...": what
  // runs where. Rank 0 prints it (after the thread notes) once the command has checked its input, so
  // bad input ends with one line and nothing else.
  std::string load_line() const;
  void print_load_line() const;

 private:
  RuntimeOptions options_;
  Communicator* world_;
  ThreadCount threads_;
  const kernels::KernelTable* kernels_;
  AttentionKind attention_;
  WeightFormat weight_format_ = WeightFormat::AsStored;
  KvPolicyOptions kv_policy_;
  KvRequest kv_request_;
  RankModel rank_;
  KvType kv_type_ = KvType::BF16;
  std::int64_t context_ = 0;
  std::vector<std::int32_t> stop_ids_;
  std::unique_ptr<DeviceAttention> device_attention_;  // --device: this rank's GPU, if it uses one

  void set_up_device();
  std::string why_attention_stays_on_cpu() const;  // what the GPU kernel does not run; "" when nothing
  std::string device_note_;                         // --device auto left attention on the CPU: why
};

}  // namespace qwen3
