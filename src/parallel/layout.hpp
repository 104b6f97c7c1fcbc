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

#include "qwen3/config.hpp"
#include "qwen3/partition.hpp"

namespace qwen3 {

struct Layout {
  int tp = 1;  // groups of KV heads
  int sp = 1;  // members per group, sharing its KV blocks
  int rank = 0;
  int ranks() const { return tp * sp; }
  int group() const { return rank / sp; }
  int member() const { return rank % sp; }
  std::string describe() const;  // "tp 2 x sp 3"
};

// The layout of `n_ranks` for this model. tp_request/sp_request 0 mean "choose": tp defaults to the
// largest divisor of the KV head count that also divides the rank count (heads split without
// replicating q/k/v weights), sp to the rest. Throws qwen3::Error, with one line naming the problem,
// for a tp that does not divide the KV heads, tp x sp != n_ranks, or a model with fewer intermediate
// rows or vocabulary rows than ranks.
Layout choose_layout(const Qwen3Config& cfg, int n_ranks, int rank, int tp_request, int sp_request);

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
  Range experts;    // qwen3_moe: the whole experts of every sparse layer this rank runs (empty otherwise)
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
