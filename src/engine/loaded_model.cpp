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
  return resolve_kv_type(choice, model.weights().checkpoint_dtype);
}

KvType resolve_kv_type(std::string_view choice, DType weights) {
  if (choice == "f32") return KvType::F32;
  if (choice == "bf16") return KvType::BF16;
  if (choice == "q8") return KvType::Q8;
  if (choice != "auto") throw Error("--kv-type " + std::string(choice) + ": expected auto, f32, bf16 or q8");
  return weights == DType::F32 ? KvType::F32 : KvType::BF16;
}

Tokenizer load_tokenizer(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) throw Error(dir.string() + ": not a directory");
  return Tokenizer::from_file(dir / "tokenizer.json");
}

RankGroups join_ranks(Communicator& world, const Qwen3Config& cfg, const LayoutRequest& request) {
  RankGroups g;
  g.layout = choose_layout(cfg, world.size(), world.rank(), request);
  g.world = &world;
  g.kv_group = world.split(g.layout.group(), g.layout.member());
  return g;
}

RankModel load_on_ranks(Communicator& world, const std::filesystem::path& dir, const kernels::KernelTable& kernels,
                        AttentionKind attention, WeightPlacement placement, const LayoutRequest& layout, const KvRequestFor& kv_request,
                        WeightFormat format) {
  Qwen3Config layout_config;
  on_every_rank(world, [&] {
    if (!std::filesystem::is_directory(dir)) throw Error(dir.string() + ": model directory not found");
    layout_config = Qwen3Config::from_file(dir / "config.json");
    choose_layout(layout_config, world.size(), world.rank(), layout);  // a layout the model cannot take
  });
  RankModel rm{join_ranks(world, layout_config, layout), {}, {}};
  std::optional<MappedModel> mapped;
  on_every_rank(world, [&] { mapped = map_model(dir, &rm.groups, format); });
  // Every rank has mapped its checkpoint and knows its share: check the whole host before any copy.
  if (kv_request) {
    const KvRequest kv = kv_request(*mapped);
    rm.memory = plan_memory(world, rank_memory(mapped->config, mapped->dist.part, static_cast<double>(mapped->weights.matrix_bytes), kv),
                            kv, kv.default_tokens > 0 ? kv.default_tokens : mapped->config.max_position_embeddings, dir.string());
  }
  on_every_rank(world, [&] { rm.loaded = finish_load(std::move(*mapped), kernels, attention, placement); });
  return rm;
}

MappedModel map_model(const std::filesystem::path& dir, const RankGroups* ranks, WeightFormat format) {
  MappedModel m{dir, {}, {}, {}, {}, {}, {}, {}, std::chrono::steady_clock::now(), format};
  if (!std::filesystem::is_directory(dir)) throw Error(dir.string() + ": model directory not found");
  m.config = Qwen3Config::from_file(dir / "config.json");
  m.generation = GenerationConfig::from_file(dir / "generation_config.json");
  const RankGroups one_process;
  if (!ranks) ranks = &one_process;
  m.layout = ranks->layout;
  // Re-checked here: the groups were formed from a config read before this one.
  choose_layout(m.config, m.layout.ranks(), m.layout.rank, m.layout.tp, m.layout.sp);
  m.dist = Distribution{partition_model(m.config, m.layout), ranks->world, ranks->kv()};
  m.checkpoint = Checkpoint::open(dir);
  m.weights = load_weights(*m.checkpoint, m.config, WeightPlacement::Map, m.dist.part, format);
  if (format == WeightFormat::Bf16 && m.weights.layers.size() && m.weights.layers[0].q_proj.dtype == DType::F8_E4M3)
    throw Error(dir.string() + ": --weights bf16: this is an FP8 checkpoint; its weights run in 8 bits (--weights auto or q8), never widened");
  if (std::filesystem::exists(dir / "tokenizer.json")) m.tokenizer = Tokenizer::from_file(dir / "tokenizer.json");
  return m;
}

LoadedModel finish_load(MappedModel&& m, const kernels::KernelTable& kernels, AttentionKind attention, WeightPlacement placement) {
  if (placement == WeightPlacement::Copy || needs_conversion(m.weights, m.format)) copy_weights_into_memory(m.weights, m.dist.part, m.format);
  auto model = std::make_unique<Qwen3Model>(m.config, std::move(m.weights), kernels, attention, m.dist);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - m.started).count();
  std::optional<Checkpoint> mapping;
  const Qwen3Weights& w = model->weights();
  if (!w.storage && placement == WeightPlacement::Copy)
    std::fprintf(stderr, "note: no memory for a %.0f MiB copy of the weights; they are read from the file mapping\n",
                 static_cast<double>(w.matrix_bytes) / (1 << 20));
  if (!w.storage || w.reads_mapping) mapping = std::move(m.checkpoint);
  return LoadedModel{m.dir,  std::move(m.config), std::move(m.generation), std::move(mapping), std::move(model), std::move(m.tokenizer),
                     secs,   m.layout};
}

LoadedModel load_model(const std::filesystem::path& dir, const kernels::KernelTable& kernels, AttentionKind attention,
                       WeightPlacement placement, const RankGroups* ranks, WeightFormat format) {
  return finish_load(map_model(dir, ranks, format), kernels, attention, placement);
}

}  // namespace qwen3
