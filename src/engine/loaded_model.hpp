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

  const Tokenizer& require_tokenizer() const;  // throws qwen3::Error if absent
};

// Throws qwen3::Error with one line naming the file at fault.
LoadedModel load_model(const std::filesystem::path& dir, const kernels::KernelTable& kernels, AttentionKind attention,
                       WeightPlacement placement = WeightPlacement::Map);

// --kv-type: "f32", "bf16", or "auto" (f32 for f32 checkpoints, whose fixtures are exact; bf16
// otherwise, so a long context reads half the bytes). Throws qwen3::Error on anything else.
KvType resolve_kv_type(std::string_view choice, const Qwen3Model& model);

// Tokenizer only (for `tokenize`): DIR/tokenizer.json.
Tokenizer load_tokenizer(const std::filesystem::path& dir);

}  // namespace qwen3
