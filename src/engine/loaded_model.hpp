#pragma once
// Everything read from a checkpoint directory, validated and ready to run: config, sampling
// defaults, the weights, the model over them and (if present) the tokenizer.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "attention/attention.hpp"
#include "kernels/kernels.hpp"
#include "model/qwen3.hpp"
#include "qwen3/config.hpp"
#include "qwen3/safetensors.hpp"
#include "qwen3/tokenizer.hpp"

namespace qwen3 {

// The ranks that share one model: every rank of the job and this rank's tp x sp place among them.
// One process is the default: LocalCommunicator, tp 1 x sp 1.
struct RankGroups {
  Layout layout;
  Communicator* world = &local_communicator();
  std::unique_ptr<Communicator> kv_group;  // the sp members of this rank's tp group; nullptr: local
  Communicator* kv() const { return kv_group ? kv_group.get() : &local_communicator(); }
};
// Collective over `world` (it splits the communicator): every rank calls it with the same config and
// requests. tp/sp 0: choose (dist/layout.hpp). Throws qwen3::Error for a layout the model cannot take.
RankGroups join_ranks(Communicator& world, const Qwen3Config& cfg, int tp, int sp);

struct LoadedModel {
  std::filesystem::path dir;
  Qwen3Config config;
  GenerationConfig generation;
  // The file mapping, kept only while the weights are views into it (WeightPlacement::Map). After a
  // huge-page copy it is unmapped, so its pages no longer count in the process's resident memory.
  std::optional<Checkpoint> mapped_checkpoint;
  std::unique_ptr<Qwen3Model> model;
  std::optional<Tokenizer> tokenizer;  // absent when the directory has no tokenizer.json
  double load_seconds = 0;
  Layout layout;  // this rank's place in tp x sp

  const Tokenizer& require_tokenizer() const;  // throws qwen3::Error if absent
};

// Throws qwen3::Error with one line naming the file at fault.
// With several ranks (`ranks`, which must outlive the model), each loads only its slices.
LoadedModel load_model(const std::filesystem::path& dir, const kernels::KernelTable& kernels, AttentionKind attention,
                       WeightPlacement placement = WeightPlacement::Map, const RankGroups* ranks = nullptr);

// --kv-type: "f32", "bf16", or "auto" (f32 for f32 checkpoints, whose fixtures are exact; bf16
// otherwise, so a long context reads half the bytes). Throws qwen3::Error on anything else.
KvType resolve_kv_type(std::string_view choice, const Qwen3Model& model);

// This rank's share of a model, loaded on every rank of `world` together: the layout (--tp/--sp,
// 0: choose) is agreed from config.json before any rank maps weights, and a failure on any rank ends
// them all with one line (engine/agreement.hpp). `groups` outlives `loaded`, whose model uses it.
struct RankModel {
  RankGroups groups;
  LoadedModel loaded;
};
RankModel load_on_ranks(Communicator& world, const std::filesystem::path& dir, const kernels::KernelTable& kernels,
                        AttentionKind attention, WeightPlacement placement, int tp, int sp);

// Tokenizer only (for `tokenize`): DIR/tokenizer.json.
Tokenizer load_tokenizer(const std::filesystem::path& dir);

}  // namespace qwen3
