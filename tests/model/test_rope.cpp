// The rotary frequencies against transformers' own: plain RoPE, and YaRN as the pinned transformers
// (4.57.6) computes it for tiny-gqa4-yarn (scripts/make_yarn_fixtures.py wrote these f32 bit patterns
// from the model it built: Qwen3RotaryEmbedding.inv_freq and .attention_scaling).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>

#include "model/ops.hpp"
#include "model/rope.hpp"
#include "qwen3/error.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

// Property: YaRN's frequencies are transformers' bit for bit (first and last four of 32), and so is
// its attention factor 0.1 ln 4 + 1 rounded to f32.
TEST(Rope, YarnFrequenciesAreTransformersBitForBit) {
  const Qwen3Config cfg = Qwen3Config::from_file(test::model_dir("tiny-gqa4-yarn") / "config.json");
  ASSERT_TRUE(cfg.rope_scaling);
  const RopeFrequencies r = rope_frequencies(cfg);
  ASSERT_EQ(r.inv_freq.size(), 32u);
  const std::uint32_t first[4] = {0x3f800000, 0x3f146e1b, 0x3ea9a47a, 0x3e3e47f2};
  const std::uint32_t last[4] = {0x35bcb0c1, 0x35751070, 0x351f23e4, 0x34ceaf79};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(std::bit_cast<std::uint32_t>(r.inv_freq[static_cast<std::size_t>(i)]), first[i]) << i;
    EXPECT_EQ(std::bit_cast<std::uint32_t>(r.inv_freq[28 + static_cast<std::size_t>(i)]), last[i]) << 28 + i;
  }
  EXPECT_EQ(r.attention_factor, static_cast<float>(1.138629436111989));
  // Without rope_scaling the same config has plain RoPE: the high frequencies are the same, the low
  // ones four times YaRN's (interpolated by the factor 4).
  Qwen3Config plain = cfg;
  plain.rope_scaling.reset();
  const RopeFrequencies p = rope_frequencies(plain);
  EXPECT_EQ(p.inv_freq[0], r.inv_freq[0]);
  EXPECT_NEAR(p.inv_freq[31] / r.inv_freq[31], 4.0, 1e-5);
  EXPECT_EQ(p.attention_factor, 1.f);
}

// Property: the rotary table multiplies cos and sin by YaRN's attention factor, and the shift that
// re-rotates attention sinks does not (the stored keys carry it already): rotating by p then by s
// equals rotating by p + s.
TEST(Rope, AttentionFactorScalesTheTableOnce) {
  const Qwen3Config cfg = Qwen3Config::from_file(test::model_dir("tiny-gqa4-yarn") / "config.json");
  const RopeFrequencies r = rope_frequencies(cfg);
  const std::int32_t at[1] = {300};
  const ops::RotaryTable scaled = ops::rotary_table(at, r), unscaled = ops::rotary_table(at, r, false);
  for (std::size_t i = 0; i < scaled.cos.size(); ++i) {
    EXPECT_EQ(scaled.cos[i], unscaled.cos[i] * r.attention_factor);
    EXPECT_NEAR(unscaled.cos[i] * unscaled.cos[i] + unscaled.sin[i] * unscaled.sin[i], 1.0, 1e-6);
  }
}

// Property: rope_scaling is read as transformers reads it: "type" for "rope_type", "default" as
// none, other types and a missing factor refused by name.
TEST(Rope, RopeScalingFieldsAreReadOrRefusedByName) {
  const std::string head =
      R"({"model_type": "qwen3", "vocab_size": 400, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
          "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64, "rms_norm_eps": 1e-6, "max_position_embeddings": 512,
          "rope_scaling": )";
  const auto parse = [&](const std::string& rs) { return Qwen3Config::from_json(head + rs + "}", "cfg.json"); };
  EXPECT_TRUE(parse(R"({"type": "yarn", "factor": 2.0})").rope_scaling);
  EXPECT_FALSE(parse(R"({"rope_type": "default"})").rope_scaling);
  EXPECT_EQ(parse(R"({"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 128, "beta_fast": 16})").rope_scaling->beta_fast, 16.0);
  for (const auto& [rs, needle] : {std::pair<std::string, std::string>{R"({"rope_type": "linear", "factor": 2})", "\"linear\" is not supported"},
                                   {R"({"rope_type": "yarn"})", "factor: missing"},
                                   {R"({"factor": 2})", "rope_type: missing"},
                                   {R"({"rope_type": "yarn", "factor": 0.5})", "factor: must be at least 1"},
                                   {R"("yarn")", "rope_scaling: expected an object"}}) {
    try {
      parse(rs);
      ADD_FAILURE() << rs << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace qwen3
