#include "model/weights.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <set>
#include <string>

#include "kernels/convert.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

class WeightReader {
 public:
  WeightReader(const Checkpoint& ckpt) : ckpt_(ckpt) {}

  kernels::MatrixView matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const std::int64_t shape[2] = {rows, cols};
    const TensorView& t = ckpt_.require(name, shape);
    used_.insert(name);
    return {t.data, t.dtype, rows, cols, cols};
  }

  std::vector<float> vector(const std::string& name, std::int64_t n) {
    const std::int64_t shape[1] = {n};
    const TensorView& t = ckpt_.require(name, shape);
    used_.insert(name);
    std::vector<float> out(static_cast<std::size_t>(n));
    if (t.dtype == DType::F32) {
      const auto src = t.as<float>();
      std::copy(src.begin(), src.end(), out.begin());
    } else {
      const auto src = t.as<std::uint16_t>();
      for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = t.dtype == DType::BF16 ? kernels::bf16_to_f32(src[i]) : kernels::f16_to_f32(src[i]);
    }
    return out;
  }

  void mark_used(const std::string& name) { used_.insert(name); }

  void check_all_used(const Qwen3Config& cfg) const {
    for (const std::string& name : ckpt_.tensor_names()) {
      if (!used_.count(name)) {
        throw Error(ckpt_.dir().string() + ": tensor " + name + " is not part of a qwen3 model with num_hidden_layers=" +
                    std::to_string(cfg.num_hidden_layers) + " (config.json does not match the weights)");
      }
    }
  }

 private:
  const Checkpoint& ckpt_;
  std::set<std::string> used_;
};

std::size_t bytes_of(const kernels::MatrixView& m) {
  return static_cast<std::size_t>(m.rows * m.cols) * dtype_size(m.dtype);
}

// Columns [c0, c1) of every row: a strided view.
kernels::MatrixView slice_cols(const kernels::MatrixView& m, std::int64_t c0, std::int64_t c1) {
  kernels::MatrixView v = m;
  v.data = static_cast<const std::byte*>(m.data) + c0 * static_cast<std::int64_t>(dtype_size(m.dtype));
  v.cols = c1 - c0;
  return v;
}

// Moves the matrices into one huge-page buffer (each 64-byte aligned, rows packed), copying in
// parallel so the pages are first touched by the threads that will read them. Where the buffer cannot
// be had (an address-space limit, ulimit -v), the matrices stay views into the file mapping: the copy
// is a speed-up, not a requirement, and the caller sees the fallback as w.storage == nullptr.
// keep_embedding: leave the embedding table in the mapping (a step reads only its tokens' rows).
void copy_into_storage(Qwen3Weights& w, bool keep_embedding) {
  const bool tied = w.lm_head.data == w.embed_tokens.data && w.lm_head.rows == w.embed_tokens.rows;
  std::vector<kernels::MatrixView*> mats;
  if (!keep_embedding) mats.push_back(&w.embed_tokens);
  if (!tied || keep_embedding) mats.push_back(&w.lm_head);
  for (auto& l : w.layers)
    for (auto* m : l.matrices()) mats.push_back(m);
  std::vector<std::size_t> offsets;
  std::size_t total = 0;
  for (const auto* m : mats) {
    offsets.push_back(total);
    total += (bytes_of(*m) + 63) / 64 * 64;
  }
  try {
    w.storage = std::make_shared<PageBuffer>(total, "weights");
  } catch (const std::bad_alloc&) {
    return;
  }
  for (std::size_t i = 0; i < mats.size(); ++i) {
    kernels::MatrixView& m = *mats[i];
    std::byte* dst = w.storage->data() + offsets[i];
    if (m.row_stride == m.cols) {  // contiguous: 2 MiB chunks
      const auto* src = static_cast<const std::byte*>(m.data);
      const auto n = static_cast<std::int64_t>(bytes_of(m));
      constexpr std::int64_t chunk = std::int64_t(1) << 21;
#pragma omp parallel for schedule(static)
      for (std::int64_t off = 0; off < n; off += chunk) std::memcpy(dst + off, src + off, static_cast<std::size_t>(std::min(chunk, n - off)));
      // Dropped from this process's page table only: a row the embedding lookup needs later (tied
      // LM head) is faulted back in from the page cache.
      release_mapped_pages(src, static_cast<std::size_t>(n));
    } else {  // a column slice: pack its rows
      const std::size_t row_bytes = static_cast<std::size_t>(m.cols) * dtype_size(m.dtype);
#pragma omp parallel for schedule(static)
      for (std::int64_t r = 0; r < m.rows; ++r) std::memcpy(dst + static_cast<std::size_t>(r) * row_bytes, m.row(r), row_bytes);
      // Reading the slice faulted in the whole matrix (other ranks' columns share its pages).
      const auto* first = static_cast<const std::byte*>(m.row(0));
      release_mapped_pages(first, static_cast<std::size_t>(static_cast<const std::byte*>(m.row(m.rows - 1)) - first) + row_bytes);
    }
    m.data = dst;
    m.row_stride = m.cols;
  }
  if (tied && !keep_embedding) w.lm_head = w.embed_tokens;
  w.reads_mapping = keep_embedding;
}

}  // namespace

Qwen3Weights load_weights(const Checkpoint& ckpt, const Qwen3Config& cfg, WeightPlacement placement) {
  return load_weights(ckpt, cfg, placement, whole_model(cfg));
}

Qwen3Weights load_weights(const Checkpoint& ckpt, const Qwen3Config& cfg, WeightPlacement placement, const ModelPartition& part) {
  WeightReader r(ckpt);
  const std::int64_t H = cfg.hidden_size, I = cfg.intermediate_size, D = cfg.head_dim;
  const std::int64_t QD = cfg.num_attention_heads * D, KD = cfg.num_key_value_heads * D;
  Qwen3Weights w;
  w.embed_tokens = r.matrix("model.embed_tokens.weight", cfg.vocab_size, H);
  w.norm = r.vector("model.norm.weight", H);
  if (cfg.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;  // transformers ties them and ignores a stored lm_head.weight
    if (ckpt.find("lm_head.weight")) r.mark_used("lm_head.weight");
  } else {
    w.lm_head = r.matrix("lm_head.weight", cfg.vocab_size, H);
  }
  w.lm_head = w.lm_head.slice_rows(part.vocab.begin, part.vocab.end);
  for (std::int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.q_proj = r.matrix(p + "self_attn.q_proj.weight", QD, H).slice_rows(part.own_q_heads.begin * D, part.own_q_heads.end * D);
    lw.k_proj = r.matrix(p + "self_attn.k_proj.weight", KD, H).slice_rows(part.own_kv_heads.begin * D, part.own_kv_heads.end * D);
    lw.v_proj = r.matrix(p + "self_attn.v_proj.weight", KD, H).slice_rows(part.own_kv_heads.begin * D, part.own_kv_heads.end * D);
    lw.o_proj = slice_cols(r.matrix(p + "self_attn.o_proj.weight", H, QD), part.own_q_heads.begin * D, part.own_q_heads.end * D);
    lw.q_norm = r.vector(p + "self_attn.q_norm.weight", D);
    lw.k_norm = r.vector(p + "self_attn.k_norm.weight", D);
    lw.gate_proj = r.matrix(p + "mlp.gate_proj.weight", I, H).slice_rows(part.mlp.begin, part.mlp.end);
    lw.up_proj = r.matrix(p + "mlp.up_proj.weight", I, H).slice_rows(part.mlp.begin, part.mlp.end);
    lw.down_proj = slice_cols(r.matrix(p + "mlp.down_proj.weight", H, I), part.mlp.begin, part.mlp.end);
    lw.input_layernorm = r.vector(p + "input_layernorm.weight", H);
    lw.post_attention_layernorm = r.vector(p + "post_attention_layernorm.weight", H);
    for (const auto* m : lw.matrices()) w.matrix_bytes += bytes_of(*m);
    w.layers.push_back(std::move(lw));
  }
  r.check_all_used(cfg);
  const bool keep_embedding = part.ranks > 1;
  const bool tied_whole = cfg.tie_word_embeddings && !keep_embedding;
  w.matrix_bytes += bytes_of(w.lm_head);
  if (!tied_whole && !keep_embedding) w.matrix_bytes += bytes_of(w.embed_tokens);
  if (placement == WeightPlacement::Copy) copy_into_storage(w, keep_embedding);
  return w;
}

void copy_weights_into_memory(Qwen3Weights& w, const ModelPartition& part) {
  if (w.storage) return;
  copy_into_storage(w, part.ranks > 1);
}

}  // namespace qwen3
