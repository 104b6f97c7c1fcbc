#include "parallel/layout.hpp"

#include <algorithm>

#include "qwen3/error.hpp"

namespace qwen3 {

std::string Layout::describe() const { return "tp " + std::to_string(tp) + " x sp " + std::to_string(sp); }

Layout choose_layout(const Qwen3Config& cfg, int n_ranks, int rank, int tp_request, int sp_request) {
  const std::int64_t kv = cfg.num_key_value_heads;
  const std::string n = std::to_string(n_ranks);
  if (tp_request < 0 || sp_request < 0) throw Error("--tp and --sp must be positive");
  if (tp_request > 0 && kv % tp_request != 0)
    throw Error("--tp " + std::to_string(tp_request) + " does not divide the model's " + std::to_string(kv) +
                " KV heads (each tp group owns whole KV heads)");
  Layout l;
  l.rank = rank;
  if (tp_request > 0 && sp_request > 0) {
    l.tp = tp_request;
    l.sp = sp_request;
  } else if (tp_request > 0) {
    if (n_ranks % tp_request != 0) throw Error("--tp " + std::to_string(tp_request) + " does not divide the " + n + " ranks");
    l.tp = tp_request;
    l.sp = n_ranks / tp_request;
  } else if (sp_request > 0) {
    if (n_ranks % sp_request != 0) throw Error("--sp " + std::to_string(sp_request) + " does not divide the " + n + " ranks");
    l.sp = sp_request;
    l.tp = n_ranks / sp_request;
    if (kv % l.tp != 0)
      throw Error("--sp " + std::to_string(sp_request) + " on " + n + " ranks leaves tp " + std::to_string(l.tp) +
                  ", which does not divide the model's " + std::to_string(kv) + " KV heads");
  } else {
    for (int t = 1; t <= n_ranks; ++t)
      if (n_ranks % t == 0 && kv % t == 0) l.tp = t;
    l.sp = n_ranks / l.tp;
  }
  if (l.ranks() != n_ranks)
    throw Error("--tp " + std::to_string(l.tp) + " x --sp " + std::to_string(l.sp) + " = " + std::to_string(l.ranks()) +
                " ranks, but the job has " + n);
  if (cfg.intermediate_size < n_ranks || cfg.vocab_size < n_ranks)
    throw Error("the model is too small for " + n + " ranks (intermediate_size " + std::to_string(cfg.intermediate_size) +
                ", vocab_size " + std::to_string(cfg.vocab_size) + "): every rank needs MLP and vocabulary rows");
  return l;
}

Layout choose_layout(const Qwen3Config& cfg, int n_ranks, int rank, const LayoutRequest& request) {
  Layout l = choose_layout(cfg, n_ranks, rank, request.tp, request.sp);
  l.expert_groups = choose_expert_groups(cfg, n_ranks, request.experts);
  return l;
}

int choose_expert_groups(const Qwen3Config& cfg, int n_ranks, ExpertSplit split) {
  if (!cfg.moe) return 1;
  switch (split) {
    case ExpertSplit::Whole: return n_ranks;
    case ExpertSplit::Rows: return 1;
    case ExpertSplit::Auto: break;
  }
  const std::int64_t members = std::max<std::int64_t>(1, cfg.moe->moe_intermediate_size / kMinExpertRowsPerRank);
  return static_cast<int>(std::min<std::int64_t>(n_ranks, (n_ranks + members - 1) / members));
}

std::string describe_expert_split(const Qwen3Config& cfg, const Layout& l) {
  if (!cfg.moe) return {};
  if (l.expert_groups >= l.ranks()) return ", experts whole";
  if (l.expert_groups <= 1) return ", expert rows over " + std::to_string(l.ranks()) + " ranks";
  return ", expert rows in " + std::to_string(l.expert_groups) + " groups";
}

ExpertSplit parse_expert_split(std::string_view name) {
  if (name == "auto") return ExpertSplit::Auto;
  if (name == "whole") return ExpertSplit::Whole;
  if (name == "rows") return ExpertSplit::Rows;
  throw Error("--expert-split " + std::string(name) + ": expected one of auto, whole, rows");
}

ModelPartition partition_model(const Qwen3Config& cfg, const Layout& l) {
  const std::int64_t g = cfg.num_attention_heads / cfg.num_key_value_heads;
  ModelPartition p;
  p.kv_heads = split_even(cfg.num_key_value_heads, l.group(), l.tp);
  p.q_heads = {p.kv_heads.begin * g, p.kv_heads.end * g};
  // Whole blocks of 32 columns of down_proj per rank where the size allows, so 8-bit weights
  // (kernels::kQ8Block) quantize each rank's slice in the blocks of the whole matrix.
  p.mlp = split_aligned(cfg.intermediate_size, l.rank, l.ranks(), 32);
  p.vocab = split_even(cfg.vocab_size, l.rank, l.ranks());
  // A token's chosen experts run where their rows live; each rank's partial sums join the dense
  // MLP's all-reduce either way (see ExpertSplit).
  if (cfg.moe) {
    const int groups = std::clamp(l.expert_groups, 1, l.ranks());
    int g = 0;
    while (split_even(l.ranks(), g, groups).end <= l.rank) ++g;
    const Range members = split_even(l.ranks(), g, groups);
    p.expert_rows = split_aligned(cfg.moe->moe_intermediate_size, l.rank - static_cast<int>(members.begin), static_cast<int>(members.size()), 32);
    p.experts = split_even(cfg.moe->num_experts, g, groups);
    // A rank left without experts (more groups than experts) or rows (more members than rows) holds none.
    if (p.experts.size() == 0 || p.expert_rows.size() == 0) p.experts = p.expert_rows = Range{};
  }
  p.kv_member = l.member();
  p.kv_members = l.sp;
  p.ranks = l.ranks();
  const Range o = p.member_q_heads(l.member()), k = p.member_kv_heads(l.member());
  p.own_q_heads = {p.q_heads.begin + o.begin, p.q_heads.begin + o.end};
  p.own_kv_heads = {p.kv_heads.begin + k.begin, p.kv_heads.begin + k.end};
  return p;
}

ModelPartition whole_model(const Qwen3Config& cfg) { return partition_model(cfg, Layout{}); }

}  // namespace qwen3
