#include "engine/loaded_model.hpp"

#include <cstdio>

#include "engine/agreement.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {

const Tokenizer& LoadedModel::require_tokenizer() const {
  if (!tokenizer) throw Error(dir.string() + ": no tokenizer.json (needed for text prompts and output)");
  return *tokenizer;
}

KvType resolve_kv_type(std::string_view choice, const Qwen3Model& model) {
  if (choice == "f32") return KvType::F32;
  if (choice == "bf16") return KvType::BF16;
  if (choice != "auto") throw Error("--kv-type " + std::string(choice) + ": expected auto, f32 or bf16");
  return model.weights().embed_tokens.dtype == DType::F32 ? KvType::F32 : KvType::BF16;
}

Tokenizer load_tokenizer(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) throw Error(dir.string() + ": not a directory");
  return Tokenizer::from_file(dir / "tokenizer.json");
}

RankGroups join_ranks(Communicator& world, const Qwen3Config& cfg, int tp, int sp) {
  RankGroups g;
  g.layout = choose_layout(cfg, world.size(), world.rank(), tp, sp);
  g.world = &world;
  g.kv_group = world.split(g.layout.group(), g.layout.member());
  return g;
}

RankModel load_on_ranks(Communicator& world, const std::filesystem::path& dir, const kernels::KernelTable& kernels,
                        AttentionKind attention, WeightPlacement placement, int tp, int sp) {
  Qwen3Config layout_config;
  on_every_rank(world, [&] {
    if (!std::filesystem::is_directory(dir)) throw Error(dir.string() + ": model directory not found");
    layout_config = Qwen3Config::from_file(dir / "config.json");
  });
  RankModel rm{join_ranks(world, layout_config, tp, sp), {}};
  on_every_rank(world, [&] { rm.loaded = load_model(dir, kernels, attention, placement, &rm.groups); });
  return rm;
}

LoadedModel load_model(const std::filesystem::path& dir, const kernels::KernelTable& kernels, AttentionKind attention,
                       WeightPlacement placement, const RankGroups* ranks) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!std::filesystem::is_directory(dir)) throw Error(dir.string() + ": model directory not found");
  Qwen3Config config = Qwen3Config::from_file(dir / "config.json");
  GenerationConfig generation = GenerationConfig::from_file(dir / "generation_config.json");
  const RankGroups one_process;
  if (!ranks) ranks = &one_process;
  const Layout layout = ranks->layout;
  // Re-checked here: the groups were formed from a config read before this one.
  choose_layout(config, layout.ranks(), layout.rank, layout.tp, layout.sp);
  const Distribution dist{partition_model(config, layout), ranks->world, ranks->kv()};
  Checkpoint checkpoint = Checkpoint::open(dir);
  Qwen3Weights weights = load_weights(checkpoint, config, placement, dist.part);
  auto model = std::make_unique<Qwen3Model>(config, std::move(weights), kernels, attention, dist);
  std::optional<Tokenizer> tokenizer;
  if (std::filesystem::exists(dir / "tokenizer.json")) tokenizer = Tokenizer::from_file(dir / "tokenizer.json");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::optional<Checkpoint> mapping;
  const Qwen3Weights& w = model->weights();
  if (!w.storage && placement == WeightPlacement::Copy)
    std::fprintf(stderr, "note: no memory for a %.0f MiB copy of the weights; they are read from the file mapping\n",
                 static_cast<double>(w.matrix_bytes) / (1 << 20));
  if (!w.storage || w.reads_mapping) mapping = std::move(checkpoint);
  return LoadedModel{dir,    std::move(config), std::move(generation), std::move(mapping), std::move(model), std::move(tokenizer),
                     secs,   layout};
}

}  // namespace qwen3
