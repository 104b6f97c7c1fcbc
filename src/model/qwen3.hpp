#pragma once
// The Qwen3 decoder: embedding -> num_hidden_layers x (attention block, MLP block) -> norm -> logits.
#include <cstdint>
#include <span>
#include <vector>

#include "attention/attention.hpp"
#include "attention/device_attention.hpp"
#include "attention/key_mass_tracker.hpp"
#include "kernels/kernels.hpp"
#include "kv/kv_cache.hpp"
#include "model/ops.hpp"
#include "model/weights.hpp"
#include "model/rope.hpp"
#include "parallel/layout.hpp"
#include "qwen3/comm.hpp"
#include "qwen3/config.hpp"

namespace qwen3 {

struct ForwardStats {
  double attention_seconds = 0;  // wall time inside attention(), summed over layers and calls
  // Mixture-of-experts layers, this rank's part (bench/moe_placement: load balance over ranks).
  double expert_seconds = 0;       // wall time in this rank's expert products, before their all-reduce
  double expert_sum_seconds = 0;   // in that all-reduce: waiting for the slowest rank, then the sum
  std::int64_t expert_slices_read = 0;  // (expert, layer, step)s whose rows this rank read: >=1 token chose it
  std::int64_t expert_token_rows = 0;   // tokens through them
  // When on, how many of a step's tokens chose each expert, one row per sparse layer and step.
  bool log_routing = false;
  std::vector<std::vector<std::int32_t>> tokens_per_expert;
};

// Optional capture of the residual stream for layer-by-layer comparison with transformers:
// hidden[0] = embeddings, hidden[l+1] = output of layer l ([n_tokens][hidden] each).
struct ForwardTrace {
  std::vector<std::vector<float>> hidden;
};

// One sequence's part of a forward step over several sequences: its new tokens at their global
// positions, appended to its own KV cache, and the logits of its last `n_logits` tokens.
struct SequenceStep {
  std::span<const std::int32_t> tokens;
  std::span<const std::int32_t> positions;
  KvCache* cache = nullptr;
  std::int64_t n_logits = 0;
  float* logits = nullptr;  // [n_logits][vocab_range().size()]
};

// How this rank shares the model with the others (parallel/layout.hpp) and the groups it talks to.
struct Distribution {
  ModelPartition part;
  Communicator* all = &local_communicator();       // every rank: sums after o_proj and the MLP, the vocabulary
  Communicator* kv_group = &local_communicator();  // the members sharing this group's KV blocks: state merges
};

class Qwen3Model {
 public:
  // The whole model in this process.
  Qwen3Model(const Qwen3Config& cfg, Qwen3Weights weights, const kernels::KernelTable& kernels, AttentionKind attention);
  // This rank's share: `weights` must hold the slices of dist.part (load_weights with that partition).
  Qwen3Model(const Qwen3Config& cfg, Qwen3Weights weights, const kernels::KernelTable& kernels, AttentionKind attention,
             const Distribution& dist);

  const Qwen3Config& config() const { return cfg_; }
  const Qwen3Weights& weights() const { return w_; }
  const kernels::KernelTable& kernels() const { return *k_; }
  AttentionKind attention_kind() const { return attention_; }
  void set_attention_kind(AttentionKind kind) { attention_ = kind; }
  const Distribution& distribution() const { return dist_; }
  Range vocab_range() const { return dist_.part.vocab; }  // the logits this rank computes
  // This rank's KV heads, and (with new_cache) only its blocks of the sequence.
  KvCacheShape kv_shape(KvType type, std::int64_t block_size) const;
  KvCache new_cache(KvType type, std::int64_t block_size, std::int64_t capacity_tokens) const;

  // Runs `tokens` at global `positions` through the model, appending their K/V to `cache`, and writes
  // the logits of the last `n_logits` tokens to `logits` ([n_logits][vocab_range().size()]).
  void forward(std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions, KvCache& cache,
               std::int64_t n_logits, float* logits, ForwardTrace* trace = nullptr);
  // One step over several sequences (continuous batching): every linear reads each weight once for
  // the rows of all of them; attention runs per sequence over its own cache. Off (the default), every
  // linear takes all rows at once (a gemm from 32 rows on), and a sequence's logits may move by
  // rounding with its batch-mates (within 1e-5 of the largest logit). Batch-invariant: each sequence's
  // rows come out bit for bit as they would alone, whatever runs beside it (ops::linear_per_sequence),
  // at a cost in throughput from 16 sequences on (bench/README.md, "Many sequences").
  void forward(std::span<const SequenceStep> batch, ForwardTrace* trace = nullptr);
  void set_batch_invariant(bool on) { batch_invariant_ = on; }

  ForwardStats& stats() { return stats_; }
  // Attention on this rank's GPU where it can run (--device; attention/device_attention.hpp); nullptr:
  // the CPU's path. Not owned.
  void set_device_attention(DeviceAttention* device) { device_ = device; }

 private:
  struct Activations {
    std::vector<float> x, xn, q, k, v, qkv_own, qkv_group, states, own_states, attn, tmp, gate, up;
    // states: only where attention returns partial states (sp > 1, or a GPU runs it).
    void resize(const Qwen3Config& c, const ModelPartition& part, std::int64_t n_tokens, bool states_needed);
  };

  // Where each sequence of a step sits in the step's rows, and the cache slots its new tokens took.
  struct StepRows {
    std::int64_t first = 0, count = 0;
    std::vector<KvSlot> slots;
  };
  void attention_block(const LayerWeights& lw, std::int64_t layer, std::span<const SequenceStep> batch,
                       std::span<const StepRows> rows, const ops::RotaryTable& rope);
  void attend(const SequenceStep& seq, const StepRows& rows, std::int64_t layer, KeyMassTracker& key_mass);
  void logits_of(std::span<const SequenceStep> batch, std::span<const StepRows> rows);
  void project_qkv(const LayerWeights& lw, std::int64_t n, const ops::RotaryTable& rope);
  void mlp_block(const LayerWeights& lw, std::int64_t n);
  void moe_block(const LayerWeights& lw, std::int64_t n);  // a sparse layer's MLP (qwen3_moe); xn is normed
  // y = W x over the step's rows (the spans of its sequences: per sequence when batch-invariant).
  void linear(const kernels::MatrixView& w, const float* x, std::span<const ops::RowSpan> spans, float* y) const;

  Qwen3Config cfg_;
  RopeFrequencies rope_;  // plain or YaRN (rope_scaling)
  Qwen3Weights w_;
  const kernels::KernelTable* k_;
  AttentionKind attention_;
  DeviceAttention* device_ = nullptr;
  Distribution dist_;
  Activations a_;
  std::vector<float> logits_;  // the LM head's rows of a step of several sequences, before each takes its own
  std::vector<KeyMassTracker> key_mass_;  // one per sequence of the step (h2o only)
  ForwardStats stats_;
  bool batch_invariant_ = false;
  std::vector<ops::RowSpan> step_spans_;   // this step's sequences in its rows
};

}  // namespace qwen3
