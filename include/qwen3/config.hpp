#pragma once
// config.json and generation_config.json of a Hugging Face Qwen3 checkpoint.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

// rope_scaling as transformers reads it for YaRN (rope_type "yarn"; model/rope.hpp computes the
// frequencies from it). Unset optional fields take transformers' defaults there.
struct RopeScaling {
  double factor = 1.0;
  std::int64_t original_max_position_embeddings = 0;  // 0: absent (then max_position_embeddings)
  std::optional<double> beta_fast, beta_slow, attention_factor, mscale, mscale_all_dim;
  bool truncate = true;
};

// A qwen3_moe model's mixture-of-experts MLPs (transformers' Qwen3MoeSparseMoeBlock): a router
// (mlp.gate) picks experts_per_token of num_experts per token; their SwiGLU MLPs of
// moe_intermediate_size are summed with the router's softmax weights (renormalised over the chosen
// ones when norm_topk_prob). router_aux_loss_coef only matters in training and is ignored.
struct MoeConfig {
  std::int64_t num_experts = 0;
  std::int64_t experts_per_token = 0;
  std::int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = false;
  std::int64_t decoder_sparse_step = 1;
  std::vector<std::int64_t> mlp_only_layers;  // layers with a dense MLP of intermediate_size

  // transformers: not in mlp_only_layers, and (layer + 1) % decoder_sparse_step == 0.
  bool sparse(std::int64_t layer) const;
};

struct Qwen3Config {
  std::string model_type;             // must be "qwen3"
  std::int64_t vocab_size = 0;        // rows of embed_tokens / lm_head (may exceed the tokenizer's size)
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t head_dim = 0;          // explicit: Qwen3 has heads*head_dim != hidden_size (0.6B: 2048 vs 1024)
  std::int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  std::string torch_dtype;            // informational: the tensors' own dtypes are what count
  std::optional<RopeScaling> rope_scaling;  // YaRN; absent (or rope_type "default"): plain RoPE
  std::optional<MoeConfig> moe;             // model_type qwen3_moe
  // quantization_config of Qwen's FP8 checkpoints: each F8_E4M3 weight's weight_scale_inv holds one
  // scale per block of fp8_block_rows x fp8_block_cols weights. 0: no quantization_config.
  std::int64_t fp8_block_rows = 0, fp8_block_cols = 0;

  // Parses and validates. Throws qwen3::Error naming the file and field for: malformed JSON, a missing
  // or mistyped required field, non-positive sizes, num_attention_heads % num_key_value_heads != 0,
  // and features not implemented yet: rope_scaling other than YaRN, use_sliding_window: true,
  // model_type other than "qwen3" (e.g. qwen3_moe), attention_bias: true, hidden_act other than "silu",
  // a quantization_config other than fp8 / e4m3 / dynamic with two block sizes.
  // head_dim defaults to hidden_size / num_attention_heads when absent (transformers' rule).
  static Qwen3Config from_file(const std::filesystem::path& config_json);
  static Qwen3Config from_json(std::string_view json_text, std::string_view source_name);
};

// Sampling defaults from generation_config.json; absent fields take transformers' defaults.
struct GenerationConfig {
  bool do_sample = false;
  float temperature = 1.0f;
  std::int32_t top_k = 50;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  std::vector<std::int32_t> eos_token_ids;  // eos_token_id may be an int or a list in the file
  std::int32_t bos_token_id = -1;

  // A missing file gives the defaults; a malformed one throws qwen3::Error.
  static GenerationConfig from_file(const std::filesystem::path& generation_config_json);
};

}  // namespace qwen3
