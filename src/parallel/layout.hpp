#pragma once
// How N ranks share one model: N = tp x sp (after Helix parallelism, arXiv 2507.07120).
//  - Attention runs on a grid: tp group t owns a contiguous set of KV heads (with the query heads of
//    their GQA groups); inside the group the KV blocks are dealt round-robin to the sp members.
//  - The q/k/v projections are split over the sp members of a group by heads (the members all-gather
//    the few KB of q, k and v per layer), so sp does not replicate weights.
//  - Everything after attention is split over all N ranks: o_proj by input columns (the group's query
//    heads split again over its sp members), gate/up/down over the intermediate dimension, the LM head
//    over the vocabulary. So each weight is read by one rank only, and per-rank weight memory falls
//    as ~1/N for any N, prime or larger than the KV head count; the KV cache as 1/(tp x sp).
// World rank r sits in group r / sp as member r % sp: the members of a group are neighbours, so with
// mpirun's default by-core placement they share a socket and the state merges stay local.
#include <cstdint>
#include <string>
#include <string_view>

#include "qwen3/config.hpp"
#include "qwen3/partition.hpp"

namespace qwen3 {

// How a mixture-of-experts layer's experts are spread over the ranks (bench/README.md, "Expert
// placement", measured the choice): the ranks form expert_groups groups of neighbours; group g holds
// experts split_even(num_experts, g, groups), and each of its ranks a 32-aligned share of the rows of
// every one of them (gate/up rows, down columns, as the dense MLP). Whole: one rank per group (whole
// experts per rank). Rows: one group (every expert's rows over all ranks). Auto: groups only as many
// as keep every rank at least kMinExpertRowsPerRank rows of an expert.
enum class ExpertSplit { Auto, Whole, Rows };
inline constexpr std::int64_t kMinExpertRowsPerRank = 128;

struct Layout {
  int tp = 1;  // groups of KV heads
  int sp = 1;  // members per group, sharing its KV blocks
  int rank = 0;
  int expert_groups = 1;  // see ExpertSplit
  int ranks() const { return tp * sp; }
  int group() const { return rank / sp; }
  int member() const { return rank % sp; }
  std::string describe() const;  // "tp 2 x sp 3"
};

// What the user asked of the layout (--tp, --sp: 0 = choose; --expert-split).
struct LayoutRequest {
  int tp = 0;
  int sp = 0;
  ExpertSplit experts = ExpertSplit::Auto;
};

// The layout of `n_ranks` for this model. tp_request/sp_request 0 mean "choose": tp defaults to the
// largest divisor of the KV head count that also divides the rank count (heads split without
// replicating q/k/v weights), sp to the rest. Throws qwen3::Error, with one line naming the problem,
// for a tp that does not divide the KV heads, tp x sp != n_ranks, or a model with fewer intermediate
// rows or vocabulary rows than ranks.
Layout choose_layout(const Qwen3Config& cfg, int n_ranks, int rank, int tp_request, int sp_request);
// The same, with the expert groups of a mixture-of-experts model (1 for a dense one).
Layout choose_layout(const Qwen3Config& cfg, int n_ranks, int rank, const LayoutRequest& request);
int choose_expert_groups(const Qwen3Config& cfg, int n_ranks, ExpertSplit split);
// ", experts whole" / ", expert rows over 3 ranks" / ", expert rows in 2 groups"; empty for a dense model.
std::string describe_expert_split(const Qwen3Config& cfg, const Layout& layout);
// --expert-split auto|whole|rows; throws qwen3::Error for another name.
ExpertSplit parse_expert_split(std::string_view name);

// The slices of the model one rank computes. Head ranges are global head indices.
struct ModelPartition {
  Range kv_heads;      // this group's KV heads: attention runs over them
  Range q_heads;       // their query heads (kv_heads x GQA group size)
  // This member's share of the group's heads: the rows of q_proj (own_q_heads), k_proj and v_proj
  // (own_kv_heads) it projects, before the members all-gather q, k and v, and the columns of o_proj it
  // multiplies. So no weight is read by two members of a group.
  Range own_q_heads;
  Range own_kv_heads;
  Range mlp;        // rows of gate/up, columns of down, over intermediate_size
  Range vocab;      // rows of the LM head
  Range experts;      // qwen3_moe: the experts of every sparse layer this rank runs (empty otherwise)
  Range expert_rows;  // and its rows of each of them, over moe_intermediate_size
  int kv_member = 0;   // this rank's index among the members sharing the KV blocks
  int kv_members = 1;
  int ranks = 1;       // ranks sharing the model; 1: every range is the whole model

  // Member m's share of the group's query and KV heads, counted from the group's first head: the
  // split behind own_q_heads / own_kv_heads, which the members need of each other to exchange q, k, v
  // and the merged attention states.
  Range member_q_heads(int m) const { return split_even(q_heads.size(), m, kv_members); }
  Range member_kv_heads(int m) const { return split_even(kv_heads.size(), m, kv_members); }
};

ModelPartition partition_model(const Qwen3Config& cfg, const Layout& layout);
// Everything on one rank.
ModelPartition whole_model(const Qwen3Config& cfg);

}  // namespace qwen3
