// The rank layout: which tp x sp a job gets, what each rank computes, and which requests are refused.
#include <gtest/gtest.h>

#include "parallel/layout.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

Qwen3Config qwen3_06b() {  // the shapes of Qwen3-0.6B
  Qwen3Config c;
  c.vocab_size = 151936;
  c.hidden_size = 1024;
  c.intermediate_size = 3072;
  c.num_hidden_layers = 28;
  c.num_attention_heads = 16;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  return c;
}

// Property: without --tp/--sp, tp is the largest divisor of both the KV heads (8) and the rank count,
// and sp the rest: any rank count works, primes and more ranks than KV heads included.
TEST(Layout, DefaultTakesLargestCommonDivisorAsTp) {
  const Qwen3Config c = qwen3_06b();
  const std::pair<int, int> want[] = {{1, 1}, {2, 1}, {1, 3}, {4, 1}, {1, 5}, {2, 3}, {1, 7}, {8, 1}, {8, 2}, {4, 3}, {8, 8}};
  const int ranks[] = {1, 2, 3, 4, 5, 6, 7, 8, 16, 12, 64};
  for (std::size_t i = 0; i < std::size(ranks); ++i) {
    const Layout l = choose_layout(c, ranks[i], 0, 0, 0);
    EXPECT_EQ(l.tp, want[i].first) << ranks[i] << " ranks";
    EXPECT_EQ(l.sp, want[i].second) << ranks[i] << " ranks";
  }
}

// Property: bad requests are one-line errors naming the problem.
TEST(Layout, BadRequestsAreRefused) {
  const Qwen3Config c = qwen3_06b();
  auto message = [&](int n, int tp, int sp) {
    try {
      choose_layout(c, n, 0, tp, sp);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message(6, 3, 0), "--tp 3 does not divide the model's 8 KV heads (each tp group owns whole KV heads)");
  EXPECT_EQ(message(4, 2, 1), "--tp 2 x --sp 1 = 2 ranks, but the job has 4");
  EXPECT_EQ(message(6, 4, 0), "--tp 4 does not divide the 6 ranks");
  EXPECT_EQ(message(6, 0, 4), "--sp 4 does not divide the 6 ranks");
  EXPECT_EQ(message(6, 0, 2), "--sp 2 on 6 ranks leaves tp 3, which does not divide the model's 8 KV heads");
  Qwen3Config tiny = c;
  tiny.intermediate_size = 4;
  EXPECT_NO_THROW(choose_layout(tiny, 4, 0, 0, 0));
  EXPECT_THROW(choose_layout(tiny, 5, 0, 0, 0), Error);  // a rank without MLP rows: the model is too small
}

// Property: over all ranks of a layout, every KV head, query head, MLP row and vocabulary row is
// computed (projected, and multiplied by o_proj) by exactly one rank, and each rank's own heads lie in
// its group's heads.
TEST(Layout, PartitionsCoverTheModelOnce) {
  const Qwen3Config c = qwen3_06b();
  for (auto [tp, sp] : {std::pair{1, 1}, {2, 1}, {1, 3}, {2, 3}, {8, 2}, {4, 5}, {1, 16}}) {
    std::vector<int> q(16), kv(8), mlp(3072), vocab(151936);
    for (int r = 0; r < tp * sp; ++r) {
      const ModelPartition p = partition_model(c, choose_layout(c, tp * sp, r, tp, sp));
      EXPECT_EQ(p.q_heads.size(), 2 * p.kv_heads.size());
      EXPECT_GE(p.own_q_heads.begin, p.q_heads.begin);
      EXPECT_LE(p.own_q_heads.end, p.q_heads.end);
      EXPECT_GE(p.own_kv_heads.begin, p.kv_heads.begin);
      EXPECT_LE(p.own_kv_heads.end, p.kv_heads.end);
      for (auto h = p.own_q_heads.begin; h < p.own_q_heads.end; ++h) ++q[static_cast<std::size_t>(h)];
      for (auto h = p.own_kv_heads.begin; h < p.own_kv_heads.end; ++h) ++kv[static_cast<std::size_t>(h)];
      for (auto i = p.mlp.begin; i < p.mlp.end; ++i) ++mlp[static_cast<std::size_t>(i)];
      for (auto v = p.vocab.begin; v < p.vocab.end; ++v) ++vocab[static_cast<std::size_t>(v)];
      EXPECT_EQ(p.kv_members, sp);
    }
    for (const auto* counts : {&q, &kv, &mlp, &vocab})
      for (int n : *counts) ASSERT_EQ(n, 1) << "tp " << tp << " x sp " << sp;
  }
}

Qwen3Config qwen3_30b_a3b() {  // the shapes of Qwen3-30B-A3B
  Qwen3Config c = qwen3_06b();
  c.hidden_size = 2048;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 4;
  c.intermediate_size = 6144;
  c.moe = MoeConfig{};
  c.moe->num_experts = 128;
  c.moe->experts_per_token = 8;
  c.moe->moe_intermediate_size = 768;
  return c;
}

// Property: whatever the expert split and rank count (primes, more ranks than experts, more than an
// expert has blocks of 32 rows), every row of every expert is held by exactly one rank, a rank holds
// rows only of experts it owns, and rows split on multiples of 32 wherever the count allows.
TEST(Layout, ExpertRowsCoverEveryExpertOnce) {
  const Qwen3Config c = qwen3_30b_a3b();
  for (ExpertSplit split : {ExpertSplit::Whole, ExpertSplit::Rows, ExpertSplit::Auto}) {
    for (int n : {1, 2, 3, 5, 8, 24, 31, 64, 200}) {
      std::vector<int> held(128 * 768);
      for (int r = 0; r < n; ++r) {
        const ModelPartition p = partition_model(c, choose_layout(c, n, r, LayoutRequest{0, 0, split}));
        EXPECT_EQ(p.experts.size() == 0, p.expert_rows.size() == 0);
        if (n <= 24) {
          EXPECT_EQ(p.expert_rows.begin % 32, 0);
        }
        for (auto e = p.experts.begin; e < p.experts.end; ++e)
          for (auto i = p.expert_rows.begin; i < p.expert_rows.end; ++i) ++held[static_cast<std::size_t>(e * 768 + i)];
      }
      for (int h : held) ASSERT_EQ(h, 1) << "split " << static_cast<int>(split) << ", " << n << " ranks";
    }
  }
}

// Property: whole puts whole experts on each rank, rows puts every expert on each rank, and auto
// splits rows only in groups small enough to leave each rank at least 128 rows of an expert (6 of
// Qwen3-30B-A3B's 768): one group up to 6 ranks, then more groups.
TEST(Layout, ExpertSplitChoosesGroups) {
  const Qwen3Config c = qwen3_30b_a3b();
  EXPECT_EQ(choose_expert_groups(c, 8, ExpertSplit::Whole), 8);
  EXPECT_EQ(choose_expert_groups(c, 8, ExpertSplit::Rows), 1);
  const std::pair<int, int> auto_groups[] = {{1, 1}, {2, 1}, {6, 1}, {7, 2}, {12, 2}, {13, 3}, {64, 11}};
  for (auto [n, groups] : auto_groups) {
    EXPECT_EQ(choose_expert_groups(c, n, ExpertSplit::Auto), groups) << n << " ranks";
    for (int r = 0; r < n; ++r)
      EXPECT_GE(partition_model(c, choose_layout(c, n, r, LayoutRequest{})).expert_rows.size(), kMinExpertRowsPerRank) << n << " ranks";
  }
  EXPECT_EQ(choose_expert_groups(qwen3_06b(), 8, ExpertSplit::Whole), 1);  // a dense model has no experts to split
  EXPECT_THROW(parse_expert_split("columns"), Error);
}

}  // namespace
}  // namespace qwen3
