// The Qwen3 forward pass, top to bottom as the math reads (transformers' modeling_qwen3.py):
//   x = embed(tokens)
//   for each layer:  x += o_proj(attention(rope(k_norm(k)), rope(q_norm(q)), v))   on rmsnorm(x)
//                    x += down(silu(gate(h)) * up(h))                               on h = rmsnorm(x)
//                      (qwen3_moe: x += sum over the router's top k of w_e * expert_e(h))
//   logits = lm_head(rmsnorm(x))
// Threads and SIMD live below this file, and so do ranks: a rank computes its slices (its heads, its
// KV blocks, its MLP rows, its vocabulary rows; parallel/layout.hpp) and asks the Communicator to merge
// the attention states and to sum the partial products. With one process both are identities.
#include "model/qwen3.hpp"

#include <chrono>
#include <cmath>
#include <string>

#include "model/ops.hpp"
#include "qwen3/error.hpp"
#include "qwen3/online_softmax.hpp"

namespace qwen3 {

void Qwen3Model::Activations::resize(const Qwen3Config& c, const ModelPartition& part, std::int64_t n, bool states_needed) {
  const auto sz = [n](std::int64_t width) { return static_cast<std::size_t>(n * width); };
  const std::int64_t D = c.head_dim;
  x.resize(sz(c.hidden_size));
  xn.resize(sz(c.hidden_size));
  tmp.resize(sz(c.hidden_size));
  q.resize(sz(part.q_heads.size() * D));
  attn.resize(sz(part.q_heads.size() * D));
  if (states_needed || part.kv_members > 1) states.resize(sz(part.q_heads.size() * OnlineSoftmaxState::packed_size(D)));
  if (part.kv_members > 1) {
    own_states.resize(sz(part.own_q_heads.size() * OnlineSoftmaxState::packed_size(D)));
    qkv_own.resize(sz((part.own_q_heads.size() + 2 * part.own_kv_heads.size()) * D));
    qkv_group.resize(sz((part.q_heads.size() + 2 * part.kv_heads.size()) * D));
  }
  k.resize(sz(part.kv_heads.size() * D));
  v.resize(sz(part.kv_heads.size() * D));
  gate.resize(sz(part.mlp.size()));
  up.resize(sz(part.mlp.size()));
}

Qwen3Model::Qwen3Model(const Qwen3Config& cfg, Qwen3Weights weights, const kernels::KernelTable& kernels,
                       AttentionKind attention)
    : Qwen3Model(cfg, std::move(weights), kernels, attention, Distribution{whole_model(cfg)}) {}

Qwen3Model::Qwen3Model(const Qwen3Config& cfg, Qwen3Weights weights, const kernels::KernelTable& kernels,
                       AttentionKind attention, const Distribution& dist)
    : cfg_(cfg), w_(std::move(weights)), k_(&kernels), attention_(attention), dist_(dist) {
  if (cfg_.head_dim % 2 != 0) throw Error("config.json: head_dim " + std::to_string(cfg_.head_dim) + " must be even for RoPE");
  rope_ = rope_frequencies(cfg_);
}

KvCacheShape Qwen3Model::kv_shape(KvType type, std::int64_t block_size) const {
  return {cfg_.num_hidden_layers, dist_.part.kv_heads.size(), cfg_.head_dim, block_size, type};
}

KvCache Qwen3Model::new_cache(KvType type, std::int64_t block_size, std::int64_t capacity_tokens) const {
  return KvCache(kv_shape(type, block_size), capacity_tokens, KvBlockOwner{dist_.part.kv_member, dist_.part.kv_members});
}

void Qwen3Model::forward(std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions, KvCache& cache,
                         std::int64_t n_logits, float* logits, ForwardTrace* trace) {
  const SequenceStep one{tokens, positions, &cache, n_logits, logits};
  forward(std::span(&one, 1), trace);
}

void Qwen3Model::forward(std::span<const SequenceStep> batch, ForwardTrace* trace) {
  // Checked before any cache changes: a bad id or a full context leaves every sequence as it was.
  std::vector<std::int32_t> tokens, positions;
  for (const SequenceStep& s : batch) {
    for (std::int32_t id : s.tokens)
      if (id < 0 || id >= cfg_.vocab_size)
        throw Error("token id " + std::to_string(id) + " is out of range [0, " + std::to_string(cfg_.vocab_size) + ")");
    s.cache->check_room(static_cast<std::int64_t>(s.positions.size()));
    tokens.insert(tokens.end(), s.tokens.begin(), s.tokens.end());
    positions.insert(positions.end(), s.positions.begin(), s.positions.end());
  }
  std::vector<StepRows> rows(batch.size());
  key_mass_.resize(batch.size());
  step_spans_.clear();
  for (std::size_t i = 0, first = 0; i < batch.size(); first += batch[i].tokens.size(), ++i) {
    rows[i] = {static_cast<std::int64_t>(first), static_cast<std::int64_t>(batch[i].tokens.size()), batch[i].cache->append(batch[i].positions)};
    step_spans_.push_back({rows[i].first, rows[i].count});
    key_mass_[i].start(*batch[i].cache, rows[i].count, dist_.part.q_heads.size(), dist_.part.own_q_heads.size());  // h2o only
  }
  a_.resize(cfg_, dist_.part, static_cast<std::int64_t>(tokens.size()), device_ != nullptr);

  // cos/sin of every token's angles, shared by all layers.
  const ops::RotaryTable rope = ops::rotary_table(positions, rope_);
  ops::embed(*k_, w_.embed_tokens, tokens, a_.x.data(), w_.embedding_as_q8);
  if (trace) trace->hidden.assign(1, a_.x);
  for (std::int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    const LayerWeights& lw = w_.layers[static_cast<std::size_t>(l)];
    attention_block(lw, l, batch, rows, rope);
    mlp_block(lw, static_cast<std::int64_t>(tokens.size()));
    if (trace) trace->hidden.push_back(a_.x);
  }
  for (std::size_t i = 0; i < batch.size(); ++i) key_mass_[i].finish(*batch[i].cache);
  logits_of(batch, rows);
}

// The final norm and the LM head over the rows that want logits, all sequences in one product.
void Qwen3Model::logits_of(std::span<const SequenceStep> batch, std::span<const StepRows> rows) {
  const std::int64_t H = cfg_.hidden_size, V = dist_.part.vocab.size();
  std::int64_t n = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const float* last = a_.x.data() + (rows[i].first + rows[i].count - batch[i].n_logits) * H;
    std::copy(last, last + batch[i].n_logits * H, a_.tmp.data() + n * H);
    n += batch[i].n_logits;
  }
  if (n == 0) return;
  ops::rmsnorm(a_.tmp.data(), w_.norm, n, H, static_cast<float>(cfg_.rms_norm_eps), a_.xn.data());
  if (batch.size() == 1) return ops::linear(*k_, w_.lm_head, a_.xn.data(), n, batch[0].logits);
  std::vector<ops::RowSpan> logit_rows;
  for (std::int64_t i = 0, first = 0; i < static_cast<std::int64_t>(batch.size()); first += batch[static_cast<std::size_t>(i)].n_logits, ++i)
    if (batch[static_cast<std::size_t>(i)].n_logits > 0) logit_rows.push_back({first, batch[static_cast<std::size_t>(i)].n_logits});
  logits_.resize(static_cast<std::size_t>(n * V));
  linear(w_.lm_head, a_.xn.data(), logit_rows, logits_.data());
  const float* from = logits_.data();
  for (const SequenceStep& s : batch) {
    std::copy(from, from + s.n_logits * V, s.logits);
    from += s.n_logits * V;
  }
}

void Qwen3Model::attention_block(const LayerWeights& lw, std::int64_t layer, std::span<const SequenceStep> batch,
                                 std::span<const StepRows> rows, const ops::RotaryTable& rope) {
  const std::int64_t H = cfg_.hidden_size;
  const std::int64_t n = static_cast<std::int64_t>(a_.x.size()) / H;  // the step's rows
  ops::rmsnorm(a_.x.data(), lw.input_layernorm, n, H, static_cast<float>(cfg_.rms_norm_eps), a_.xn.data());
  project_qkv(lw, n, rope);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < batch.size(); ++i) attend(batch[i], rows[i], layer, key_mass_[i]);
  stats_.attention_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // o_proj over this rank's heads (input columns), summed over all ranks.
  linear(lw.o_proj, a_.attn.data(), step_spans_, a_.tmp.data());
  dist_.all->allreduce_sum(std::span(a_.tmp.data(), static_cast<std::size_t>(n * H)));
  ops::add_inplace(a_.x.data(), a_.tmp.data(), n * H);
}

// One sequence's attention over its own cache: its rows of q (and new k, v) from the step's, its
// output into its rows of the step's attention output.
void Qwen3Model::attend(const SequenceStep& seq, const StepRows& rows, std::int64_t layer, KeyMassTracker& key_mass) {
  const std::int64_t D = cfg_.head_dim, n = rows.count;
  const ModelPartition& part = dist_.part;
  const std::int64_t n_heads = part.q_heads.size(), n_kv = part.kv_heads.size();  // this rank's
  KvCache& cache = *seq.cache;
  cache.store(layer, rows.slots, a_.k.data() + rows.first * n_kv * D, a_.v.data() + rows.first * n_kv * D);
  if (cache.sinks_stale(layer)) ops::rotate_sink_keys(cache, layer, rope_);  // StreamingLLM positions

  AttentionProblem p;
  p.kernels = k_;
  p.n_heads = n_heads;
  p.n_kv_heads = n_kv;
  p.head_dim = D;
  p.scale = 1.0f / std::sqrt(static_cast<float>(D));
  p.q = a_.q.data() + rows.first * n_heads * D;
  p.positions = seq.positions;
  p.cache = &cache;
  p.layer = layer;
  // On a GPU (where it can run this call), attention returns the partial states; the CPU normalises them.
  const bool on_device = device_ && device_->can_run(p) && !key_mass.row_stats();
  if (part.kv_members == 1) {
    float* out = a_.attn.data() + rows.first * n_heads * D;
    if (on_device) {
      p.states = a_.states.data();
      device_->run(p);
      ops::normalize_states(p.states, n_heads, n, D, out);
      return;
    }
    p.out = out;
    p.row_stats = key_mass.row_stats();
    attention(attention_, p);
    key_mass.add_layer(p);
    return;
  }
  // This rank's KV blocks give partial states of all the group's heads. The members merge them with
  // a reduce-scatter along the heads: each ends with its own heads merged, the inputs of its o_proj.
  p.states = a_.states.data();
  if (on_device) device_->run(p);
  else attention(attention_, p);
  const int members = part.kv_members;
  std::vector<std::int64_t> member_rows(static_cast<std::size_t>(members));
  for (int m = 0; m < members; ++m) member_rows[static_cast<std::size_t>(m)] = n * part.member_q_heads(m).size();
  const std::int64_t packed = OnlineSoftmaxState::packed_size(D);
  const std::span<const float> states(a_.states.data(), static_cast<std::size_t>(n * n_heads * packed));
  const std::span<float> own(a_.own_states.data(), static_cast<std::size_t>(n * part.own_q_heads.size() * packed));
  dist_.kv_group->merge_softmax_states_scatter(states, own, member_rows, D);
  ops::normalize_states(own.data(), part.own_q_heads.size(), n, D, a_.attn.data() + rows.first * part.own_q_heads.size() * D);
  key_mass.add_layer(p, own, member_rows, *dist_.kv_group);
}

// q, k, v of this group's heads, RMS-normed per head and rotated. Each member of the group projects
// its own heads (own_q_heads, own_kv_heads) and the members all-gather the results, so no member reads
// another's rows of q_proj, k_proj and v_proj.
void Qwen3Model::project_qkv(const LayerWeights& lw, std::int64_t n, const ops::RotaryTable& rope) {
  const std::int64_t D = cfg_.head_dim;
  const ModelPartition& part = dist_.part;
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  const std::int64_t qh = part.own_q_heads.size(), kh = part.own_kv_heads.size();
  const bool shared = part.kv_members > 1;
  // Alone in the group, the projections land where attention reads them; otherwise in the message.
  float* q = shared ? a_.qkv_own.data() : a_.q.data();
  float* k = shared ? q + n * qh * D : a_.k.data();
  float* v = shared ? k + n * kh * D : a_.v.data();
  linear(lw.q_proj, a_.xn.data(), step_spans_, q);
  linear(lw.k_proj, a_.xn.data(), step_spans_, k);
  linear(lw.v_proj, a_.xn.data(), step_spans_, v);
  ops::rmsnorm(q, lw.q_norm, n * qh, D, eps, q);  // per head, before RoPE (Qwen3)
  ops::rmsnorm(k, lw.k_norm, n * kh, D, eps, k);
  ops::apply_rope(q, n, qh, rope);
  ops::apply_rope(k, n, kh, rope);
  if (!shared) return;

  // Member m sent [q: n x its q heads][k: n x its kv heads][v: likewise]; place each block's rows at
  // its heads' columns of the group's [n][heads*D] q, k and v.
  const int members = part.kv_members;
  std::vector<std::int64_t> counts(static_cast<std::size_t>(members));
  for (int m = 0; m < members; ++m)
    counts[static_cast<std::size_t>(m)] = n * D * (part.member_q_heads(m).size() + 2 * part.member_kv_heads(m).size());
  dist_.kv_group->allgather(a_.qkv_own, a_.qkv_group, counts);
  const float* src = a_.qkv_group.data();
  auto place = [&](std::int64_t heads_total, const Range& heads, float* dst) {
    for (std::int64_t t = 0; t < n; ++t, src += heads.size() * D)
      std::copy(src, src + heads.size() * D, dst + (t * heads_total + heads.begin) * D);
  };
  for (int m = 0; m < members; ++m) {
    place(part.q_heads.size(), part.member_q_heads(m), a_.q.data());
    place(part.kv_heads.size(), part.member_kv_heads(m), a_.k.data());
    place(part.kv_heads.size(), part.member_kv_heads(m), a_.v.data());
  }
}

void Qwen3Model::linear(const kernels::MatrixView& w, const float* x, std::span<const ops::RowSpan> spans, float* y) const {
  if (batch_invariant_) return ops::linear_per_sequence(*k_, w, x, spans, y);
  ops::linear(*k_, w, x, spans.empty() ? 0 : spans.back().first + spans.back().count, y);
}

void Qwen3Model::mlp_block(const LayerWeights& lw, std::int64_t n) {
  const std::int64_t H = cfg_.hidden_size;
  ops::rmsnorm(a_.x.data(), lw.post_attention_layernorm, n, H, static_cast<float>(cfg_.rms_norm_eps), a_.xn.data());
  if (lw.sparse()) return moe_block(lw, n);
  linear(lw.gate_proj, a_.xn.data(), step_spans_, a_.gate.data());
  linear(lw.up_proj, a_.xn.data(), step_spans_, a_.up.data());
  ops::swiglu(a_.gate.data(), a_.up.data(), n * dist_.part.mlp.size());
  linear(lw.down_proj, a_.gate.data(), step_spans_, a_.tmp.data());
  dist_.all->allreduce_sum(a_.tmp);  // each rank's rows of the intermediate dimension
  ops::add_inplace(a_.x.data(), a_.tmp.data(), n * H);
}

// The mixture-of-experts MLP, as transformers' Qwen3MoeSparseMoeBlock: the router's softmax over all
// experts (f32), the top experts_per_token of each token (renormalised over them when
// norm_topk_prob), and each chosen expert's SwiGLU MLP on the tokens that chose it, added with its
// weight in expert order. Each expert's weights are read once per step, for all its tokens; one that
// no token chose is not read at all. On several ranks each runs its rows of its experts
// (ModelPartition::experts x expert_rows; layout.hpp, ExpertSplit).
void Qwen3Model::moe_block(const LayerWeights& lw, std::int64_t n) {
  const MoeConfig& moe = *cfg_.moe;
  const std::int64_t H = cfg_.hidden_size, E = moe.num_experts, K = moe.experts_per_token, EI = dist_.part.expert_rows.size();
  // Every rank routes every token (the router is small and replicated), then runs its own experts.
  std::vector<float> router_logits(static_cast<std::size_t>(n * E));
  linear(lw.router, a_.xn.data(), step_spans_, router_logits.data());
  const ops::Routing routing = ops::route_tokens(router_logits, n, E, K, moe.norm_topk_prob);
  if (stats_.log_routing) {
    auto& counts = stats_.tokens_per_expert.emplace_back();
    for (const auto& rows : routing.rows_of_expert) counts.push_back(static_cast<std::int32_t>(rows.size()));
  }
  const auto t0 = std::chrono::steady_clock::now();
  // Which sequence of the step each row belongs to: an expert's rows keep their sequences apart, so
  // batch invariance holds as for the dense MLP.
  std::vector<std::int64_t> sequence_of(static_cast<std::size_t>(n));
  for (std::size_t s = 0; s < step_spans_.size(); ++s)
    for (std::int64_t r = 0; r < step_spans_[s].count; ++r) sequence_of[static_cast<std::size_t>(step_spans_[s].first + r)] = static_cast<std::int64_t>(s);
  std::fill(a_.tmp.begin(), a_.tmp.begin() + n * H, 0.f);
  std::vector<float> xe, gate, up, down;
  // This rank's experts (all of them in one process); the ranks' sums meet in the all-reduce below.
  for (std::int64_t e = lw.first_expert; e < lw.first_expert + static_cast<std::int64_t>(lw.experts.size()); ++e) {
    const auto& rows = routing.rows_of_expert[static_cast<std::size_t>(e)];
    if (rows.empty()) continue;
    const auto m = static_cast<std::int64_t>(rows.size());
    ++stats_.expert_slices_read;
    stats_.expert_token_rows += m;
    xe.resize(static_cast<std::size_t>(m * H));
    std::vector<ops::RowSpan> spans;
    for (std::int64_t j = 0; j < m; ++j) {
      const std::int64_t t = rows[static_cast<std::size_t>(j)].token;
      std::copy(a_.xn.begin() + t * H, a_.xn.begin() + (t + 1) * H, xe.begin() + j * H);
      if (j > 0 && sequence_of[static_cast<std::size_t>(t)] == sequence_of[static_cast<std::size_t>(rows[static_cast<std::size_t>(j - 1)].token)])
        ++spans.back().count;
      else
        spans.push_back({j, 1});
    }
    gate.resize(static_cast<std::size_t>(m * EI));
    up.resize(gate.size());
    down.resize(static_cast<std::size_t>(m * H));
    const ExpertWeights& ew = lw.experts[static_cast<std::size_t>(e - lw.first_expert)];
    linear(ew.gate_proj, xe.data(), spans, gate.data());
    linear(ew.up_proj, xe.data(), spans, up.data());
    ops::swiglu(gate.data(), up.data(), m * EI);
    linear(ew.down_proj, gate.data(), spans, down.data());
    for (std::int64_t j = 0; j < m; ++j) {
      const ops::RoutedRow& row = rows[static_cast<std::size_t>(j)];
      float* out = a_.tmp.data() + row.token * H;
      for (std::int64_t h = 0; h < H; ++h) out[h] += down[static_cast<std::size_t>(j * H + h)] * row.weight;
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  dist_.all->allreduce_sum(a_.tmp);  // each rank's experts (or rows of them), as the dense MLP's rows
  stats_.expert_seconds += std::chrono::duration<double>(t1 - t0).count();
  stats_.expert_sum_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  ops::add_inplace(a_.x.data(), a_.tmp.data(), n * H);
}

}  // namespace qwen3
