// The start-up memory check: what a run needs against what the host has, before any large allocation.
#include <gtest/gtest.h>

#include <string>

#include "engine/memory_plan.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

constexpr double MiB = 1 << 20;

// A host whose weights and buffers take 100 MiB and whose cache takes 1 MiB per token.
HostMemory host(int ranks = 1) { return {100 * MiB, 60 * MiB, 1 * MiB, ranks}; }
AvailableMemory avail(double bytes) { return {static_cast<std::uint64_t>(bytes), "test"}; }

KvRequest explicit_tokens(std::int64_t tokens) {
  KvRequest kv;
  kv.tokens = tokens;
  kv.block = 16;
  kv.asked_by = "-c " + std::to_string(tokens);
  kv.instead = {"a smaller -c", "--kv-policy sink-window"};
  return kv;
}

std::string refusal(const HostMemory& h, const KvRequest& kv, std::int64_t default_tokens, double bytes) {
  try {
    fit_memory(h, kv, default_tokens, avail(bytes), "model");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Property: an explicit context that fits is kept as asked, and the host total counts the cache.
TEST(MemoryPlan, ExplicitContextThatFitsIsKept) {
  const MemoryFit fit = fit_memory(host(), explicit_tokens(50), 4096, avail(200 * MiB), "model");
  EXPECT_EQ(fit.kv_tokens, 50);
  EXPECT_EQ(fit.lowered_from, 0);
  EXPECT_DOUBLE_EQ(fit.host_bytes, 150 * MiB);
}

// Property: an explicit context that does not fit is refused with one line naming the request, the
// bytes needed, the bytes available with their source, the tokens that would fit and the way out.
TEST(MemoryPlan, ExplicitContextThatDoesNotFitIsRefusedWithTheBytes) {
  const std::string msg = refusal(host(), explicit_tokens(500), 4096, 200 * MiB);
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_NE(msg.find("-c 500: the KV cache needs 500.00 MiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("600.00 MiB in all"), std::string::npos) << msg;
  EXPECT_NE(msg.find("200.00 MiB are available (test)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("room for 100 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("use a smaller -c or --kv-policy sink-window"), std::string::npos) << msg;
}

// Property: without -c the default context is lowered to whole KV blocks that fit, and says from what.
TEST(MemoryPlan, DefaultContextIsLoweredToWholeBlocksThatFit) {
  KvRequest kv = explicit_tokens(0);
  const MemoryFit fit = fit_memory(host(), kv, 4096, avail(200 * MiB), "model");  // room for 100 tokens
  EXPECT_EQ(fit.kv_tokens, 96);  // 6 blocks of 16
  EXPECT_EQ(fit.lowered_from, 4096);
  EXPECT_NE(describe_lowered_context(fit).find("lowered from 4096"), std::string::npos);
  // With room to spare, the default stands and nothing is said.
  const MemoryFit roomy = fit_memory(host(), kv, 64, avail(1000 * MiB), "model");
  EXPECT_EQ(roomy.kv_tokens, 64);
  EXPECT_EQ(roomy.lowered_from, 0);
  EXPECT_EQ(describe_lowered_context(roomy), "");
}

// Property: a default context with room for less than one KV block is refused, not run with none.
TEST(MemoryPlan, NoRoomForOneBlockIsRefused) {
  const std::string msg = refusal(host(), explicit_tokens(0), 4096, 110 * MiB);  // room for 10 tokens < 16
  EXPECT_NE(msg.find("model: no room for a KV cache"), std::string::npos) << msg;
  EXPECT_NE(msg.find("room for 0 tokens"), std::string::npos) << msg;
}

// Property: weights and buffers larger than the memory are refused first, whatever the context.
TEST(MemoryPlan, WeightsThatDoNotFitAreRefused) {
  const std::string msg = refusal(host(), explicit_tokens(1), 4096, 99 * MiB);
  EXPECT_NE(msg.find("model: the weights and working buffers need 100.00 MiB (weights 60.00 MiB), but 99.00 MiB are available"),
            std::string::npos)
      << msg;
}

// Property: ranks sharing a host are counted together, and the refusal says so.
TEST(MemoryPlan, RanksOnOneHostAreNamed) {
  const std::string msg = refusal(host(4), explicit_tokens(1), 4096, 50 * MiB);
  EXPECT_NE(msg.find("for the 4 ranks on this host"), std::string::npos) << msg;
}

// Property: one rank's figures: the KV bytes per token are layers x 2 x its KV heads x head_dim x the
// element size, shared by the sp members; the weights are counted as given.
TEST(MemoryPlan, RankMemoryCountsItsShareOfTheCache) {
  Qwen3Config cfg;
  cfg.hidden_size = 64;
  cfg.head_dim = 32;
  cfg.num_hidden_layers = 3;
  ModelPartition part;
  part.kv_heads = {0, 4};
  part.q_heads = {0, 8};
  part.mlp = {0, 128};
  part.vocab = {0, 100};
  KvRequest kv;
  kv.type = KvType::BF16;
  RankMemory one = rank_memory(cfg, part, 1000, kv);
  EXPECT_DOUBLE_EQ(one.kv_per_token, 3 * 2 * 4 * 32 * 2);
  EXPECT_DOUBLE_EQ(one.weights, 1000);
  EXPECT_GT(one.fixed, one.weights);
  part.kv_members = 2;
  kv.type = KvType::F32;
  EXPECT_DOUBLE_EQ(rank_memory(cfg, part, 1000, kv).kv_per_token, 3 * 2 * 4 * 32 * 4 / 2.0);
}

}  // namespace
}  // namespace qwen3
