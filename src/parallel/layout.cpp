#include "parallel/layout.hpp"

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

ModelPartition partition_model(const Qwen3Config& cfg, const Layout& l) {
  const std::int64_t g = cfg.num_attention_heads / cfg.num_key_value_heads;
  ModelPartition p;
  p.kv_heads = split_even(cfg.num_key_value_heads, l.group(), l.tp);
  p.q_heads = {p.kv_heads.begin * g, p.kv_heads.end * g};
  // Whole blocks of 32 columns of down_proj per rank where the size allows, so 8-bit weights
  // (kernels::kQ8Block) quantize each rank's slice in the blocks of the whole matrix.
  p.mlp = split_aligned(cfg.intermediate_size, l.rank, l.ranks(), 32);
  p.vocab = split_even(cfg.vocab_size, l.rank, l.ranks());
  // Whole experts per rank: a token's chosen experts run where they live, and their sum joins the
  // dense MLP's all-reduce. (Rows of every expert over all ranks would read the router's choice on
  // every rank but split each expert's small matrices further; not measured yet.)
  if (cfg.moe) p.experts = split_even(cfg.moe->num_experts, l.rank, l.ranks());
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
