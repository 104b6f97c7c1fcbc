#pragma once
// Everything read from a checkpoint directory, validated and ready to run: config, sampling
// defaults, the weights, the model over them and (if present) the tokenizer.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "attention/attention.hpp"
#include "engine/memory_plan.hpp"
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
// requests. tp/sp 0: choose (parallel/layout.hpp). Throws qwen3::Error for a layout the model cannot take.
RankGroups join_ranks(Communicator& world, const Qwen3Config& cfg, const LayoutRequest& request);

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

// The first half of a load: config, generation config, the checkpoint mapped, every tensor checked
// against the config, and this rank's weights as views into the mapping. Nothing large is allocated
// yet, so the memory a run needs can be checked before the second half copies the weights.
struct MappedModel {
  std::filesystem::path dir;
  Qwen3Config config;
  GenerationConfig generation;
  Layout layout;
  Distribution dist;
  std::optional<Checkpoint> checkpoint;
  Qwen3Weights weights;
  std::optional<Tokenizer> tokenizer;  // absent when the directory has no tokenizer.json
  std::chrono::steady_clock::time_point started;
  WeightFormat format = WeightFormat::AsStored;  // what finish_load makes of the weights (--weights)
};
MappedModel map_model(const std::filesystem::path& dir, const RankGroups* ranks = nullptr, WeightFormat format = WeightFormat::AsStored);
// The second half: the huge-page copy (WeightPlacement::Copy, or whenever the format converts the
// weights: 8-bit weights exist only in memory), the model, the tokenizer.
LoadedModel finish_load(MappedModel&& mapped, const kernels::KernelTable& kernels, AttentionKind attention, WeightPlacement placement);

// Both halves. Throws qwen3::Error with one line naming the file at fault.
// With several ranks (`ranks`, which must outlive the model), each loads only its slices.
LoadedModel load_model(const std::filesystem::path& dir, const kernels::KernelTable& kernels, AttentionKind attention,
                       WeightPlacement placement = WeightPlacement::Map, const RankGroups* ranks = nullptr,
                       WeightFormat format = WeightFormat::AsStored);

// --kv-type: "f32", "bf16", or "auto" (f32 for f32 checkpoints, whose fixtures are exact; bf16
// otherwise, so a long context reads half the bytes). Throws qwen3::Error on anything else.
KvType resolve_kv_type(std::string_view choice, const Qwen3Model& model);
KvType resolve_kv_type(std::string_view choice, DType weights);

// This rank's share of a model, loaded on every rank of `world` together: the layout (--tp/--sp,
// 0: choose) is agreed from config.json before any rank maps weights, and a failure on any rank ends
// them all with one line (engine/agreement.hpp). `groups` outlives `loaded`, whose model uses it.
// `kv_request`, if given, says what the caller will ask of the KV cache (it may depend on the config,
// the weights' dtype, or text the tokenizer must first encode; it is called on every member at the
// same point, so it may use collectives); the memory the whole host needs is then checked between the
// two halves of the load (engine/memory_plan.hpp), and `memory` says what fits.
using KvRequestFor = std::function<KvRequest(const MappedModel&)>;
struct RankModel {
  RankGroups groups;
  LoadedModel loaded;
  std::optional<MemoryFit> memory;
};
RankModel load_on_ranks(Communicator& world, const std::filesystem::path& dir, const kernels::KernelTable& kernels,
                        AttentionKind attention, WeightPlacement placement, const LayoutRequest& layout, const KvRequestFor& kv_request = {},
                        WeightFormat format = WeightFormat::AsStored);

// Tokenizer only (for `tokenize`): DIR/tokenizer.json.
Tokenizer load_tokenizer(const std::filesystem::path& dir);

}  // namespace qwen3
