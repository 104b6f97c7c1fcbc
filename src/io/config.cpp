// config.json and generation_config.json of a Hugging Face Qwen3 checkpoint.
#include "qwen3/config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <system_error>

#include "io/json_messages.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

using json = nlohmann::json;
using io::json_type;
using io::short_parse_reason;

// Reads one JSON object, reporting problems as "<source>: <field>: <reason>".
class Fields {
 public:
  Fields(const json& root, std::string source) : root_(root), source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& reason) const {
    throw Error(one_line(source_ + ": " + field + ": " + reason));
  }

  // The value of `field`, or nullptr when absent or null.
  const json* get(const std::string& field) const {
    auto it = root_.find(field);
    if (it == root_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json& require(const std::string& field) const {
    const json* v = get(field);
    if (v == nullptr) fail(field, "missing (required)");
    return *v;
  }

  std::int64_t to_int(const std::string& field, const json& v) const {
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) fail(field, "value is too large");
      return static_cast<std::int64_t>(u);
    }
    if (v.is_number_integer()) return v.get<std::int64_t>();
    fail(field, std::string("expected an integer, got ") + json_type(v));
  }

  double to_double(const std::string& field, const json& v) const {
    if (!v.is_number()) fail(field, std::string("expected a number, got ") + json_type(v));
    double d = v.get<double>();
    if (!std::isfinite(d)) fail(field, "value is not finite");
    return d;
  }

  bool to_bool(const std::string& field, const json& v) const {
    if (!v.is_boolean()) fail(field, std::string("expected true or false, got ") + json_type(v));
    return v.get<bool>();
  }

  std::string to_string(const std::string& field, const json& v) const {
    if (!v.is_string()) fail(field, std::string("expected a string, got ") + json_type(v));
    return v.get<std::string>();
  }

  std::optional<std::int64_t> opt_int(const std::string& f) const {
    const json* v = get(f);
    return v ? std::optional(to_int(f, *v)) : std::nullopt;
  }
  std::optional<double> opt_double(const std::string& f) const {
    const json* v = get(f);
    return v ? std::optional(to_double(f, *v)) : std::nullopt;
  }
  std::optional<bool> opt_bool(const std::string& f) const {
    const json* v = get(f);
    return v ? std::optional(to_bool(f, *v)) : std::nullopt;
  }
  // A number that fits a float (casting an out-of-range double to float is undefined).
  std::optional<float> opt_float(const std::string& f) const {
    auto d = opt_double(f);
    if (!d) return std::nullopt;
    if (std::fabs(*d) > std::numeric_limits<float>::max()) fail(f, "value is out of range");
    return static_cast<float>(*d);
  }
  std::optional<std::string> opt_string(const std::string& f) const {
    const json* v = get(f);
    return v ? std::optional(to_string(f, *v)) : std::nullopt;
  }

  // A size in 1..INT32_MAX: downstream code indexes with 32-bit ids and multiplies sizes together.
  std::int64_t size(const std::string& field, std::int64_t v) const {
    if (v <= 0) fail(field, "must be positive, got " + std::to_string(v));
    if (v > std::numeric_limits<std::int32_t>::max()) fail(field, std::to_string(v) + " is out of range");
    return v;
  }

  const std::string& source() const { return source_; }

 private:
  const json& root_;
  std::string source_;
};

json parse_object(std::string_view text, const std::string& source) {
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number past double's range
    throw Error(one_line(source + ": malformed JSON: " + short_parse_reason(e)));
  }
  if (!root.is_object()) {
    throw Error(one_line(source + ": expected a JSON object at the top level, got " + json_type(root)));
  }
  return root;
}

std::string read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(one_line(path.string() + ": is a directory"));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(one_line(path.string() + (std::filesystem::exists(path, ec) ? ": cannot open" : ": cannot open: no such file")));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(one_line(path.string() + ": read error"));
  return ss.str();
}

std::int32_t to_token_id(const Fields& f, const std::string& field, const json& v) {
  std::int64_t id = f.to_int(field, v);
  if (id < 0 || id > std::numeric_limits<std::int32_t>::max()) {
    f.fail(field, "token id " + std::to_string(id) + " is out of range");
  }
  return static_cast<std::int32_t>(id);
}

// rope_scaling: YaRN (rope_type or, in older configs, type "yarn") with its fields, or "default"
// (none). Other rope types are refused by name.
std::optional<RopeScaling> read_rope_scaling(const Fields& f, const json& rs, const std::string& source) {
  if (!rs.is_object()) f.fail("rope_scaling", std::string("expected an object or null, got ") + json_type(rs));
  const Fields rf(rs, source + ": rope_scaling");
  const std::optional<std::string> type = rf.opt_string("rope_type") ? rf.opt_string("rope_type") : rf.opt_string("type");
  if (!type) rf.fail("rope_type", "missing (required: \"yarn\")");
  if (*type == "default") return std::nullopt;
  if (*type != "yarn") rf.fail("rope_type", "\"" + *type + "\" is not supported (only \"yarn\")");
  RopeScaling r;
  r.factor = rf.to_double("factor", rf.require("factor"));
  if (!(r.factor >= 1.0)) rf.fail("factor", "must be at least 1, got " + std::to_string(r.factor));
  if (const auto o = rf.opt_int("original_max_position_embeddings")) r.original_max_position_embeddings = rf.size("original_max_position_embeddings", *o);
  r.beta_fast = rf.opt_double("beta_fast");
  r.beta_slow = rf.opt_double("beta_slow");
  r.attention_factor = rf.opt_double("attention_factor");
  r.mscale = rf.opt_double("mscale");
  r.mscale_all_dim = rf.opt_double("mscale_all_dim");
  r.truncate = rf.opt_bool("truncate").value_or(true);
  if (r.attention_factor && !(*r.attention_factor > 0)) rf.fail("attention_factor", "must be positive");
  return r;
}

// The qwen3_moe fields, checked against each other and the layer count.
MoeConfig read_moe_config(const Fields& f, const Qwen3Config& c) {
  MoeConfig m;
  m.num_experts = f.size("num_experts", f.to_int("num_experts", f.require("num_experts")));
  m.experts_per_token = f.size("num_experts_per_tok", f.to_int("num_experts_per_tok", f.require("num_experts_per_tok")));
  if (m.experts_per_token > m.num_experts)
    f.fail("num_experts_per_tok", std::to_string(m.experts_per_token) + " is more than num_experts " + std::to_string(m.num_experts));
  m.moe_intermediate_size = f.size("moe_intermediate_size", f.to_int("moe_intermediate_size", f.require("moe_intermediate_size")));
  m.norm_topk_prob = f.opt_bool("norm_topk_prob").value_or(false);
  m.decoder_sparse_step = f.size("decoder_sparse_step", f.opt_int("decoder_sparse_step").value_or(1));
  if (const json* only = f.get("mlp_only_layers")) {
    if (!only->is_array()) f.fail("mlp_only_layers", std::string("expected a list of layer numbers, got ") + json_type(*only));
    for (const json& l : *only) {
      const std::int64_t layer = f.to_int("mlp_only_layers", l);
      if (layer < 0 || layer >= c.num_hidden_layers)
        f.fail("mlp_only_layers", "layer " + std::to_string(layer) + " is not one of the " + std::to_string(c.num_hidden_layers) + " layers");
      m.mlp_only_layers.push_back(layer);
    }
  }
  return m;
}

// quantization_config as Qwen's FP8 checkpoints have it: {"quant_method": "fp8", "fmt": "e4m3",
// "activation_scheme": "dynamic", "weight_block_size": [128, 128]}. Anything else is refused by name
// rather than read as plain weights.
void read_quantization_config(const Fields& f, const json& q, Qwen3Config& c) {
  const std::string field = "quantization_config";
  if (!q.is_object()) f.fail(field, std::string("expected an object, got ") + json_type(q));
  const Fields qf(q, "");
  const auto sub = [&](const std::string& name) { return field + "." + name; };
  const json* method = qf.get("quant_method");
  if (!method || !method->is_string() || method->get<std::string>() != "fp8")
    f.fail(sub("quant_method"), (method ? method->dump() : std::string("missing")) + " is not supported (only \"fp8\", Qwen's FP8 checkpoints)");
  if (const json* fmt = qf.get("fmt"); fmt && (!fmt->is_string() || fmt->get<std::string>() != "e4m3"))
    f.fail(sub("fmt"), fmt->dump() + " is not supported (only \"e4m3\")");
  if (const json* act = qf.get("activation_scheme"); act && (!act->is_string() || act->get<std::string>() != "dynamic"))
    f.fail(sub("activation_scheme"), act->dump() + " is not supported (only \"dynamic\": static input scales are not read)");
  const json* block = qf.get("weight_block_size");
  if (!block || !block->is_array() || block->size() != 2 || !(*block)[0].is_number_integer() || !(*block)[1].is_number_integer() ||
      (*block)[0].get<std::int64_t>() < 1 || (*block)[1].get<std::int64_t>() < 1)
    f.fail(sub("weight_block_size"), (block ? block->dump() : std::string("missing")) +
                                         " is not supported (expected two positive integers, e.g. [128, 128]; per-tensor scales are not read)");
  c.fp8_block_rows = (*block)[0].get<std::int64_t>();
  c.fp8_block_cols = (*block)[1].get<std::int64_t>();
}

}  // namespace

bool MoeConfig::sparse(std::int64_t layer) const {
  return std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) == mlp_only_layers.end() && num_experts > 0 &&
         (layer + 1) % decoder_sparse_step == 0;
}

Qwen3Config Qwen3Config::from_file(const std::filesystem::path& config_json) {
  return from_json(read_file(config_json), config_json.string());
}

Qwen3Config Qwen3Config::from_json(std::string_view json_text, std::string_view source_name) {
  const std::string source(source_name);
  const json root = parse_object(json_text, source);
  const Fields f(root, source);
  Qwen3Config c;

  c.model_type = f.to_string("model_type", f.require("model_type"));
  if (c.model_type != "qwen3" && c.model_type != "qwen3_moe") {
    throw Error(one_line(source + ": model_type \"" + c.model_type + "\" is not supported (only qwen3 and qwen3_moe)"));
  }

  // Features this runtime does not implement: refuse rather than silently compute something else.
  if (const json* rs = f.get("rope_scaling")) c.rope_scaling = read_rope_scaling(f, *rs, source);
  if (f.opt_bool("use_sliding_window").value_or(false)) {
    f.fail("use_sliding_window", "true is not supported (sliding-window attention is not implemented)");
  }
  if (f.opt_bool("attention_bias").value_or(false)) {
    f.fail("attention_bias", "true is not supported (Qwen3 has no attention biases)");
  }
  if (auto act = f.opt_string("hidden_act"); act && *act != "silu") {
    f.fail("hidden_act", "\"" + *act + "\" is not supported (only silu)");
  }

  auto req_size = [&](const char* name) { return f.size(name, f.to_int(name, f.require(name))); };
  c.vocab_size = req_size("vocab_size");
  c.hidden_size = req_size("hidden_size");
  c.intermediate_size = req_size("intermediate_size");
  c.num_hidden_layers = req_size("num_hidden_layers");
  c.num_attention_heads = req_size("num_attention_heads");
  c.num_key_value_heads = req_size("num_key_value_heads");
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    f.fail("num_key_value_heads", std::to_string(c.num_key_value_heads) + " does not divide num_attention_heads " +
                                      std::to_string(c.num_attention_heads));
  }
  // transformers: head_dim = getattr(config, "head_dim", hidden_size // num_attention_heads)
  c.head_dim = f.size("head_dim", f.opt_int("head_dim").value_or(c.hidden_size / c.num_attention_heads));
  c.max_position_embeddings =
      f.size("max_position_embeddings", f.opt_int("max_position_embeddings").value_or(32768));

  c.rms_norm_eps = f.to_double("rms_norm_eps", f.require("rms_norm_eps"));
  if (c.rms_norm_eps <= 0) f.fail("rms_norm_eps", "must be positive");
  c.rope_theta = f.opt_double("rope_theta").value_or(10000.0);
  if (c.rope_theta <= 0) f.fail("rope_theta", "must be positive");
  c.tie_word_embeddings = f.opt_bool("tie_word_embeddings").value_or(false);
  if (const json* q = f.get("quantization_config")) read_quantization_config(f, *q, c);
  if (c.model_type == "qwen3_moe") c.moe = read_moe_config(f, c);
  // Newer transformers write "dtype" instead of "torch_dtype".
  if (auto td = f.opt_string("torch_dtype")) {
    c.torch_dtype = *td;
  } else if (auto dt = f.opt_string("dtype")) {
    c.torch_dtype = *dt;
  }
  return c;
}

GenerationConfig GenerationConfig::from_file(const std::filesystem::path& generation_config_json) {
  GenerationConfig g;
  std::error_code ec;
  if (!std::filesystem::exists(generation_config_json, ec)) return g;
  const std::string source = generation_config_json.string();
  const json root = parse_object(read_file(generation_config_json), source);
  const Fields f(root, source);

  g.do_sample = f.opt_bool("do_sample").value_or(g.do_sample);
  g.temperature = f.opt_float("temperature").value_or(g.temperature);
  if (g.temperature < 0) f.fail("temperature", "must not be negative");
  if (auto k = f.opt_int("top_k")) {
    if (*k < 0 || *k > std::numeric_limits<std::int32_t>::max()) {
      f.fail("top_k", std::to_string(*k) + " is out of range");
    }
    g.top_k = static_cast<std::int32_t>(*k);
  }
  g.top_p = f.opt_float("top_p").value_or(g.top_p);
  if (g.top_p < 0 || g.top_p > 1) f.fail("top_p", "must be in [0, 1]");
  g.min_p = f.opt_float("min_p").value_or(g.min_p);
  if (g.min_p < 0 || g.min_p > 1) f.fail("min_p", "must be in [0, 1]");
  g.repetition_penalty = f.opt_float("repetition_penalty").value_or(g.repetition_penalty);
  if (g.repetition_penalty <= 0) f.fail("repetition_penalty", "must be positive");

  if (const json* eos = f.get("eos_token_id")) {
    if (eos->is_array()) {
      for (const auto& e : *eos) g.eos_token_ids.push_back(to_token_id(f, "eos_token_id", e));
    } else if (eos->is_number()) {
      g.eos_token_ids.push_back(to_token_id(f, "eos_token_id", *eos));
    } else {
      f.fail("eos_token_id", std::string("expected an integer or a list of integers, got ") + json_type(*eos));
    }
  }
  if (const json* bos = f.get("bos_token_id")) g.bos_token_id = to_token_id(f, "bos_token_id", *bos);
  return g;
}

}  // namespace qwen3
