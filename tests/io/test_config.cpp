// Tests for Qwen3Config (config.json) and GenerationConfig (generation_config.json).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "io/io_test_util.hpp"
#include "qwen3/config.hpp"

namespace {

using nlohmann::json;
using qwen3::GenerationConfig;
using qwen3::Qwen3Config;
using qwen3::test::TempDir;
using qwen3::test::write_file;

const std::filesystem::path kData = std::filesystem::path(QWEN3_TEST_DATA_DIR) / "io" / "qwen3-0.6b";

// A minimal valid config, edited per test.
json base_config() {
  return {{"model_type", "qwen3"},        {"vocab_size", 1000},       {"hidden_size", 64},
          {"intermediate_size", 128},     {"num_hidden_layers", 2},   {"num_attention_heads", 4},
          {"num_key_value_heads", 2},     {"rms_norm_eps", 1e-6},     {"head_dim", 32},
          {"max_position_embeddings", 256}, {"rope_theta", 1000000},  {"tie_word_embeddings", false}};
}

Qwen3Config parse(const json& j) { return Qwen3Config::from_json(j.dump(), "cfg.json"); }

// ------------------------------------------------------------------------------------------------
// Qwen3Config

// The real Qwen3-0.6B config.json parses: head_dim 128 is explicit, so heads*head_dim (2048) != hidden.
TEST(Qwen3Config, RealQwen3_0_6B) {
  auto c = Qwen3Config::from_file(kData / "config.json");
  EXPECT_EQ(c.model_type, "qwen3");
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.num_hidden_layers, 28);
  EXPECT_EQ(c.num_attention_heads, 16);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_NE(c.num_attention_heads * c.head_dim, c.hidden_size);
  EXPECT_EQ(c.max_position_embeddings, 40960);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1000000.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

// Absent head_dim defaults to hidden_size / num_attention_heads (transformers' rule); null likewise.
TEST(Qwen3Config, HeadDimDefault) {
  json j = base_config();
  j.erase("head_dim");
  EXPECT_EQ(parse(j).head_dim, 16);
  j["head_dim"] = nullptr;
  EXPECT_EQ(parse(j).head_dim, 16);
}

// Optional fields take their defaults: rope_theta 10000, max_position_embeddings 32768, tie false.
TEST(Qwen3Config, OptionalDefaults) {
  json j = base_config();
  j.erase("rope_theta");
  j.erase("max_position_embeddings");
  j.erase("tie_word_embeddings");
  auto c = parse(j);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.max_position_embeddings, 32768);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.torch_dtype, "");
}

// Settings that match what is implemented are accepted: rope_scaling null, no sliding window, no
// attention bias, silu.
TEST(Qwen3Config, ImplementedFeatureSettingsAccepted) {
  json j = base_config();
  j["rope_scaling"] = nullptr;
  j["use_sliding_window"] = false;
  j["sliding_window"] = nullptr;
  j["attention_bias"] = false;
  j["hidden_act"] = "silu";
  EXPECT_NO_THROW(parse(j));
}

// model_type other than qwen3 (e.g. qwen3_moe) is refused with the documented message.
TEST(Qwen3Config, RefusesOtherModelType) {
  json j = base_config();
  j["model_type"] = "llama";
  EXPECT_QWEN3_ERROR(parse(j), "cfg.json: model_type \"llama\" is not supported (only qwen3 and qwen3_moe)");
}

// qwen3_moe: the expert fields are read (transformers' defaults where optional), required ones and
// impossible values refused by name; which layers are sparse follows decoder_sparse_step and
// mlp_only_layers as transformers decides it.
TEST(Qwen3Config, ReadsMixtureOfExperts) {
  json j = base_config();
  j["model_type"] = "qwen3_moe";
  EXPECT_QWEN3_ERROR(parse(j), "cfg.json: num_experts: missing (required)");
  j["num_experts"] = 8;
  j["num_experts_per_tok"] = 2;
  j["moe_intermediate_size"] = 32;
  const Qwen3Config c = parse(j);
  ASSERT_TRUE(c.moe);
  EXPECT_FALSE(c.moe->norm_topk_prob);
  EXPECT_TRUE(c.moe->sparse(0));
  j["num_hidden_layers"] = 4;
  j["decoder_sparse_step"] = 2;
  j["mlp_only_layers"] = {3};
  const qwen3::MoeConfig m = *parse(j).moe;
  EXPECT_FALSE(m.sparse(0));
  EXPECT_TRUE(m.sparse(1));
  EXPECT_FALSE(m.sparse(3));
  j["mlp_only_layers"] = {99};
  EXPECT_QWEN3_ERROR(parse(j), "mlp_only_layers: layer 99 is not one of the");
  j["mlp_only_layers"] = json::array();
  j["num_experts_per_tok"] = 9;
  EXPECT_QWEN3_ERROR(parse(j), "num_experts_per_tok: 9 is more than num_experts 8");
}

// rope_scaling: YaRN (Qwen's recipe) is read with its fields; another rope type is refused, naming it.
TEST(Qwen3Config, ReadsYarnAndRefusesOtherRopeScaling) {
  json j = base_config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
  const Qwen3Config c = parse(j);
  ASSERT_TRUE(c.rope_scaling);
  EXPECT_EQ(c.rope_scaling->factor, 4.0);
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 32768);
  j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  EXPECT_QWEN3_ERROR(parse(j), "cfg.json: rope_scaling: rope_type: \"dynamic\" is not supported (only \"yarn\")");
}

// use_sliding_window: true is refused, naming use_sliding_window.
TEST(Qwen3Config, RefusesSlidingWindow) {
  json j = base_config();
  j["use_sliding_window"] = true;
  EXPECT_QWEN3_ERROR(parse(j), "cfg.json: use_sliding_window");
}

// attention_bias: true is refused, naming attention_bias.
TEST(Qwen3Config, RefusesAttentionBias) {
  json j = base_config();
  j["attention_bias"] = true;
  EXPECT_QWEN3_ERROR(parse(j), "cfg.json: attention_bias");
}

// hidden_act other than silu is refused, naming hidden_act.
TEST(Qwen3Config, RefusesOtherActivation) {
  json j = base_config();
  j["hidden_act"] = "gelu";
  EXPECT_QWEN3_ERROR(parse(j), "cfg.json: hidden_act: \"gelu\"");
}

// Every required field, when missing, is named in the Error.
TEST(Qwen3Config, MissingRequiredField) {
  for (const char* field : {"model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads", "num_key_value_heads", "rms_norm_eps"}) {
    SCOPED_TRACE(field);
    json j = base_config();
    j.erase(field);
    EXPECT_QWEN3_ERROR(parse(j), std::string("cfg.json: ") + field + ": missing");
  }
}

// Wrongly typed fields are named in the Error.
TEST(Qwen3Config, WrongTypes) {
  const std::pair<const char*, json> cases[] = {
      {"hidden_size", "abc"},          {"vocab_size", 1.5},          {"num_hidden_layers", true},
      {"head_dim", "128"},             {"rms_norm_eps", "1e-6"},     {"rope_theta", json::array()},
      {"tie_word_embeddings", 1},      {"model_type", 3},            {"use_sliding_window", "no"},
      {"attention_bias", 0},           {"hidden_act", json::object()}, {"max_position_embeddings", 1e3},
  };
  for (const auto& [field, value] : cases) {
    SCOPED_TRACE(field);
    json j = base_config();
    j[field] = value;
    EXPECT_QWEN3_ERROR(parse(j), std::string("cfg.json: ") + field + ": expected");
  }
}

// Sizes must be positive (and sane); num_attention_heads must be a multiple of num_key_value_heads.
TEST(Qwen3Config, BadSizes) {
  for (const char* field : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings"}) {
    SCOPED_TRACE(field);
    json j = base_config();
    j[field] = 0;
    EXPECT_QWEN3_ERROR(parse(j), std::string(field) + ": must be positive");
    j[field] = -4;
    EXPECT_QWEN3_ERROR(parse(j), std::string(field) + ": must be positive");
    j[field] = 1LL << 40;
    EXPECT_QWEN3_ERROR(parse(j), std::string(field) + ": ");
  }
  json j = base_config();
  j["num_key_value_heads"] = 3;
  EXPECT_QWEN3_ERROR(parse(j), "num_key_value_heads: 3 does not divide num_attention_heads 4");
  j = base_config();
  j["rms_norm_eps"] = 0;
  EXPECT_QWEN3_ERROR(parse(j), "rms_norm_eps");
  j = base_config();
  j["rope_theta"] = -1;
  EXPECT_QWEN3_ERROR(parse(j), "rope_theta");
  j = base_config();
  j["hidden_size"] = 18446744073709551615ULL;
  EXPECT_QWEN3_ERROR(parse(j), "hidden_size");
}

// Malformed JSON gives a one-line "FILE: malformed JSON: <reason>" message; non-objects are refused.
TEST(Qwen3Config, MalformedJson) {
  EXPECT_QWEN3_ERROR(Qwen3Config::from_json("{\"hidden_size\": 12,\n\n  oops}", "cfg.json"),
                     "cfg.json: malformed JSON: ");
  EXPECT_QWEN3_ERROR(Qwen3Config::from_json("", "cfg.json"), "cfg.json: malformed JSON: ");
  EXPECT_QWEN3_ERROR(Qwen3Config::from_json("{\"a\": \"\n\"}", "cfg.json"), "cfg.json: malformed JSON: ");
  EXPECT_QWEN3_ERROR(Qwen3Config::from_json("[1,2]", "cfg.json"), "cfg.json: expected a JSON object");
  EXPECT_QWEN3_ERROR(Qwen3Config::from_json("null", "cfg.json"), "cfg.json: expected a JSON object");
  // A number past double's range is nlohmann's out_of_range, not parse_error (see the safetensors
  // regression found by fuzzing): still one line, never std::terminate.
  EXPECT_QWEN3_ERROR(Qwen3Config::from_json("{\"rope_theta\": 1e999}", "cfg.json"), "cfg.json: malformed JSON: number overflow");
}

// from_file: a missing file is "FILE: cannot open"; the file name is used as the message source.
TEST(Qwen3Config, FromFile) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(Qwen3Config::from_file(dir / "config.json"), (dir / "config.json").string() + ": cannot open");
  EXPECT_QWEN3_ERROR(Qwen3Config::from_file(dir.path()), dir.path().string());
  json j = base_config();
  j.erase("vocab_size");
  write_file(dir / "config.json", j.dump());
  EXPECT_QWEN3_ERROR(Qwen3Config::from_file(dir / "config.json"),
                     (dir / "config.json").string() + ": vocab_size: missing");
  write_file(dir / "config.json", base_config().dump());
  EXPECT_EQ(Qwen3Config::from_file(dir / "config.json").head_dim, 32);
}

// ------------------------------------------------------------------------------------------------
// GenerationConfig

// A missing generation_config.json gives transformers' defaults.
TEST(GenerationConfig, MissingFileGivesDefaults) {
  TempDir dir;
  auto g = GenerationConfig::from_file(dir / "generation_config.json");
  EXPECT_FALSE(g.do_sample);
  EXPECT_FLOAT_EQ(g.temperature, 1.0f);
  EXPECT_EQ(g.top_k, 50);
  EXPECT_FLOAT_EQ(g.top_p, 1.0f);
  EXPECT_FLOAT_EQ(g.min_p, 0.0f);
  EXPECT_FLOAT_EQ(g.repetition_penalty, 1.0f);
  EXPECT_TRUE(g.eos_token_ids.empty());
  EXPECT_EQ(g.bos_token_id, -1);
}

// The real Qwen3-0.6B generation_config.json parses, with eos_token_id as a list.
TEST(GenerationConfig, RealQwen3_0_6BWithEosList) {
  auto g = GenerationConfig::from_file(kData / "generation_config.json");
  EXPECT_TRUE(g.do_sample);
  EXPECT_FLOAT_EQ(g.temperature, 0.6f);
  EXPECT_EQ(g.top_k, 20);
  EXPECT_FLOAT_EQ(g.top_p, 0.95f);
  EXPECT_FLOAT_EQ(g.min_p, 0.0f);
  EXPECT_EQ(g.eos_token_ids, (std::vector<std::int32_t>{151645, 151643}));
  EXPECT_EQ(g.bos_token_id, 151643);
}

// eos_token_id given as a single int becomes a one-element list; other fields parse too.
TEST(GenerationConfig, EosAsInt) {
  TempDir dir;
  write_file(dir / "g.json", R"({"eos_token_id": 7, "min_p": 0.05, "repetition_penalty": 1.1, "top_k": 0})");
  auto g = GenerationConfig::from_file(dir / "g.json");
  EXPECT_EQ(g.eos_token_ids, (std::vector<std::int32_t>{7}));
  EXPECT_FLOAT_EQ(g.min_p, 0.05f);
  EXPECT_FLOAT_EQ(g.repetition_penalty, 1.1f);
  EXPECT_EQ(g.top_k, 0);
  EXPECT_EQ(g.bos_token_id, -1);
}

// Wrong types, out-of-range values and malformed JSON raise Errors naming the file and field.
TEST(GenerationConfig, WrongTypesAndMalformed) {
  TempDir dir;
  const auto p = dir / "g.json";
  const std::pair<const char*, const char*> cases[] = {
      {R"({"do_sample": "yes"})", "do_sample"},
      {R"({"temperature": "hot"})", "temperature"},
      {R"({"temperature": 1e300})", "temperature"},
      {R"({"temperature": -1})", "temperature"},
      {R"({"top_k": 2.5})", "top_k"},
      {R"({"top_k": -1})", "top_k"},
      {R"({"top_p": 1.5})", "top_p"},
      {R"({"min_p": "0"})", "min_p"},
      {R"({"repetition_penalty": 0})", "repetition_penalty"},
      {R"({"eos_token_id": "2"})", "eos_token_id"},
      {R"({"eos_token_id": [1, "2"]})", "eos_token_id"},
      {R"({"eos_token_id": [1, 99999999999]})", "eos_token_id"},
      {R"({"eos_token_id": -5})", "eos_token_id"},
      {R"({"bos_token_id": [1]})", "bos_token_id"},
  };
  for (const auto& [text, field] : cases) {
    SCOPED_TRACE(text);
    write_file(p, text);
    EXPECT_QWEN3_ERROR(GenerationConfig::from_file(p), p.string() + ": " + field);
  }
  write_file(p, "{\"top_k\": 5,\n");
  EXPECT_QWEN3_ERROR(GenerationConfig::from_file(p), p.string() + ": malformed JSON: ");
  write_file(p, "[]");
  EXPECT_QWEN3_ERROR(GenerationConfig::from_file(p), p.string() + ": expected a JSON object");
}

}  // namespace
