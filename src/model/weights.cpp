#include "model/weights.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <set>
#include <string>

#include "kernels/convert.hpp"
#include "kernels/q8.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

class WeightReader {
 public:
  WeightReader(const Checkpoint& ckpt, const Qwen3Config& cfg, std::deque<kernels::Fp8Scales>& fp8_scales)
      : ckpt_(ckpt), cfg_(cfg), fp8_scales_(fp8_scales) {}

  kernels::MatrixView matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const std::int64_t shape[2] = {rows, cols};
    const TensorView& t = ckpt_.require(name, shape);
    used_.insert(name);
    kernels::MatrixView m{t.data, t.dtype, rows, cols, cols};
    if (t.dtype == DType::F8_E4M3) m.fp8 = &fp8_scales_.emplace_back(fp8_scales(name, rows, cols));
    return m;
  }

  std::vector<float> vector(const std::string& name, std::int64_t n) {
    const std::int64_t shape[1] = {n};
    const TensorView& t = ckpt_.require(name, shape);
    if (t.dtype == DType::F8_E4M3) throw Error(name + ": dtype F8_E4M3 in the checkpoint, expected F32, F16 or BF16 for a norm");
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
  // The weight_scale_inv beside an FP8 weight ("x.weight" -> "x.weight_scale_inv"): one scale per
  // block of the config's weight_block_size, so [ceil(rows / block rows)][ceil(cols / block cols)].
  kernels::Fp8Scales fp8_scales(const std::string& name, std::int64_t rows, std::int64_t cols) {
    if (cfg_.fp8_block_rows == 0)
      throw Error(name + ": dtype F8_E4M3, but config.json has no quantization_config saying how its scales are blocked");
    const std::string scale_name = name + "_scale_inv";
    const TensorView* s = ckpt_.find(scale_name);
    if (!s) throw Error(ckpt_.dir().string() + ": tensor " + scale_name + " not found (the scales of the FP8 weight " + name + ")");
    const std::int64_t want[2] = {(rows + cfg_.fp8_block_rows - 1) / cfg_.fp8_block_rows, (cols + cfg_.fp8_block_cols - 1) / cfg_.fp8_block_cols};
    if (s->shape.size() != 2 || s->shape[0] != want[0] || s->shape[1] != want[1])
      throw Error(scale_name + ": shape " + shape_text(s->shape) + " in the checkpoint, expected [" + std::to_string(want[0]) + ", " +
                  std::to_string(want[1]) + "] (a " + std::to_string(rows) + " x " + std::to_string(cols) + " weight in blocks of " +
                  std::to_string(cfg_.fp8_block_rows) + " x " + std::to_string(cfg_.fp8_block_cols) + ")");
    if (!is_float(s->dtype))
      throw Error(scale_name + ": dtype " + std::string(dtype_name(s->dtype)) + " in the checkpoint, expected BF16, F16 or F32");
    used_.insert(scale_name);
    return {s->data, s->dtype, want[1], cfg_.fp8_block_rows, cfg_.fp8_block_cols};
  }

  static std::string shape_text(const std::vector<std::int64_t>& shape) {
    std::string t = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) t += (i ? ", " : "") + std::to_string(shape[i]);
    return t + "]";
  }

  const Checkpoint& ckpt_;
  const Qwen3Config& cfg_;
  std::deque<kernels::Fp8Scales>& fp8_scales_;
  std::set<std::string> used_;
};

// Bytes of the matrix in `dtype` (Q8: values and scales).
std::size_t bytes_as(const kernels::MatrixView& m, DType dtype) {
  if (dtype == DType::Q8) return static_cast<std::size_t>(kernels::q8_bytes(m.rows, m.cols));
  return static_cast<std::size_t>(m.rows * m.cols) * dtype_size(dtype);
}

// Columns [c0, c1) of every row: a strided view.
kernels::MatrixView slice_cols(const kernels::MatrixView& m, std::int64_t c0, std::int64_t c1) {
  kernels::MatrixView v = m;
  v.data = static_cast<const std::byte*>(m.data) + c0 * static_cast<std::int64_t>(dtype_size(m.dtype));
  v.cols = c1 - c0;
  v.origin_col += c0;
  return v;
}

// One matrix copied (and converted) into `dst`: Q8 writes the values, then the scales 64-byte aligned.
void copy_matrix(kernels::MatrixView& m, DType to, std::byte* dst) {
  if (to == DType::Q8) {
    auto* q = reinterpret_cast<std::int8_t*>(dst);
    auto* scales = reinterpret_cast<std::uint16_t*>(dst + (m.rows * m.cols + 63) / 64 * 64);
    kernels::quantize_matrix_q8(m, q, scales);
    m = {q, DType::Q8, m.rows, m.cols, m.cols, scales, m.cols / kernels::kQ8Block};
    return;
  }
  if (to != m.dtype) {  // f32/f16 -> bf16, row by row
    auto* out = reinterpret_cast<std::uint16_t*>(dst);
#pragma omp parallel
    {
      std::vector<float> row(static_cast<std::size_t>(m.cols));
#pragma omp for schedule(static)
      for (std::int64_t r = 0; r < m.rows; ++r) {
        kernels::source_row_f32(m, r, row.data());
        for (std::int64_t c = 0; c < m.cols; ++c) out[r * m.cols + c] = kernels::f32_to_bf16(row[static_cast<std::size_t>(c)]);
      }
    }
    m = {dst, to, m.rows, m.cols, m.cols};
    return;
  }
  if (m.row_stride == m.cols) {  // contiguous: 2 MiB chunks
    const auto* src = static_cast<const std::byte*>(m.data);
    const auto n = static_cast<std::int64_t>(bytes_as(m, m.dtype));
    constexpr std::int64_t chunk = std::int64_t(1) << 21;
#pragma omp parallel for schedule(static)
    for (std::int64_t off = 0; off < n; off += chunk) std::memcpy(dst + off, src + off, static_cast<std::size_t>(std::min(chunk, n - off)));
  } else {  // a column slice: pack its rows
    const std::size_t row_bytes = static_cast<std::size_t>(m.cols) * dtype_size(m.dtype);
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < m.rows; ++r) std::memcpy(dst + static_cast<std::size_t>(r) * row_bytes, m.row(r), row_bytes);
  }
  m.data = dst;
  m.row_stride = m.cols;
}

// The pages of the file mapping that m's view spans (a column slice spans whole rows of the matrix,
// other ranks' columns included), dropped from this process's page table once copied. A row the
// embedding lookup needs later (tied LM head) is faulted back in from the page cache.
void release_source(const kernels::MatrixView& m) {
  const auto* first = static_cast<const std::byte*>(m.row(0));
  const std::size_t row_bytes = static_cast<std::size_t>(m.cols) * dtype_size(m.dtype);
  release_mapped_pages(first, static_cast<std::size_t>(static_cast<const std::byte*>(m.row(m.rows - 1)) - first) + row_bytes);
}

// Whether the embedding table stays in the file mapping: with several ranks a step reads only the
// rows of its own tokens (FP8 tables, which need converting, excepted).
bool keeps_embedding(const Qwen3Weights& w, const ModelPartition& part) {
  return part.ranks > 1 && w.embed_tokens.dtype != DType::F8_E4M3;
}

// Moves the matrices into one huge-page buffer (each 64-byte aligned, rows packed), copying and
// converting in parallel so the pages are first touched by the threads that will read them. Where the
// buffer cannot be had (an address-space limit, ulimit -v), the matrices stay views into the file
// mapping: the copy is a speed-up, not a requirement, and the caller sees the fallback as
// w.storage == nullptr; a conversion cannot do without it (one line naming the bytes).
void copy_into_storage(Qwen3Weights& w, bool keep_embedding, WeightFormat format) {
  const bool tied = w.lm_head.data == w.embed_tokens.data && w.lm_head.rows == w.embed_tokens.rows;
  std::vector<kernels::MatrixView*> mats;
  if (!keep_embedding) mats.push_back(&w.embed_tokens);
  if (!tied || keep_embedding) mats.push_back(&w.lm_head);
  const std::size_t n_tables = mats.size();
  for (auto& l : w.layers)
    for (auto* m : l.matrices()) mats.push_back(m);
  std::vector<std::size_t> offsets;
  std::vector<DType> targets;
  std::size_t total = 0;
  bool converts = false;
  for (const auto* m : mats) {
    targets.push_back(in_memory_dtype(m->dtype, targets.size() < n_tables ? table_format(format) : format));
    converts = converts || targets.back() != m->dtype;
    offsets.push_back(total);
    total += (bytes_as(*m, targets.back()) + 127) / 64 * 64;  // + a line: Q8 aligns its scales
  }
  try {
    w.storage = std::make_shared<PageBuffer>(total, "weights");
  } catch (const std::bad_alloc&) {
    if (converts) throw Error("no memory for the " + std::to_string(total >> 20) + " MiB of weights converted at load (--weights)");
    return;
  }
  for (std::size_t i = 0; i < mats.size(); ++i) {
    const kernels::MatrixView source = *mats[i];
    copy_matrix(*mats[i], targets[i], w.storage->data() + offsets[i]);
    release_source(source);
  }
  if (tied && !keep_embedding) w.lm_head = w.embed_tokens;
  w.reads_mapping = keep_embedding;
  w.embedding_as_q8 = keep_embedding && in_memory_dtype(w.embed_tokens.dtype, table_format(format)) == DType::Q8;
}

// Q8 quantizes rows in blocks of kQ8Block columns: a matrix (or this rank's column slice) must
// consist of whole blocks.
void check_q8_columns(const std::string& name, const kernels::MatrixView& m, WeightFormat format) {
  if (in_memory_dtype(m.dtype, format) != DType::Q8 || m.cols % kernels::kQ8Block == 0) return;
  throw Error(name + ": " + std::to_string(m.cols) + " columns" + (m.origin_col ? " on this rank" : "") + " are not a multiple of " +
              std::to_string(kernels::kQ8Block) + ", the block of 8-bit weights (--weights q8 or an FP8 checkpoint)");
}

}  // namespace

std::string describe_weight_dtypes(const Qwen3Weights& w) {
  const DType body = w.body_dtype();
  std::string s(dtype_name(body));
  if (w.stored_body_dtype != body) s += " from " + std::string(dtype_name(w.stored_body_dtype));
  if (w.embed_tokens.dtype != body) s += ", embedding " + std::string(dtype_name(w.embed_tokens.dtype));
  if (w.lm_head.dtype != w.embed_tokens.dtype && w.lm_head.dtype != body) s += ", lm_head " + std::string(dtype_name(w.lm_head.dtype));
  return s;
}

WeightFormat parse_weight_format(std::string_view name) {
  if (name == "auto") return WeightFormat::AsStored;
  if (name == "bf16") return WeightFormat::Bf16;
  if (name == "q8") return WeightFormat::Q8;
  if (name == "q8-body") return WeightFormat::Q8Body;
  throw Error("--weights " + std::string(name) + ": expected one of auto, bf16, q8, q8-body");
}

WeightFormat table_format(WeightFormat format) { return format == WeightFormat::Q8Body ? WeightFormat::AsStored : format; }

DType in_memory_dtype(DType stored, WeightFormat format) {
  if (stored == DType::F8_E4M3 || format == WeightFormat::Q8 || format == WeightFormat::Q8Body) return DType::Q8;
  if (format == WeightFormat::Bf16) return DType::BF16;
  return stored;
}

bool needs_conversion(const Qwen3Weights& w, WeightFormat format) {
  if (in_memory_dtype(w.lm_head.dtype, table_format(format)) != w.lm_head.dtype) return true;
  for (const auto& l : w.layers)
    for (const auto* m : const_cast<LayerWeights&>(l).matrices())
      if (in_memory_dtype(m->dtype, format) != m->dtype) return true;
  return false;
}

Qwen3Weights load_weights(const Checkpoint& ckpt, const Qwen3Config& cfg, WeightPlacement placement, WeightFormat format) {
  return load_weights(ckpt, cfg, placement, whole_model(cfg), format);
}

Qwen3Weights load_weights(const Checkpoint& ckpt, const Qwen3Config& cfg, WeightPlacement placement, const ModelPartition& part,
                          WeightFormat format) {
  Qwen3Weights w;
  WeightReader r(ckpt, cfg, w.fp8_scales);
  const std::int64_t H = cfg.hidden_size, I = cfg.intermediate_size, D = cfg.head_dim;
  const std::int64_t QD = cfg.num_attention_heads * D, KD = cfg.num_key_value_heads * D;
  w.embed_tokens = r.matrix("model.embed_tokens.weight", cfg.vocab_size, H);
  w.checkpoint_dtype = w.embed_tokens.dtype;
  w.norm = r.vector("model.norm.weight", H);
  if (cfg.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;  // transformers ties them and ignores a stored lm_head.weight
    if (ckpt.find("lm_head.weight")) r.mark_used("lm_head.weight");
  } else {
    w.lm_head = r.matrix("lm_head.weight", cfg.vocab_size, H);
  }
  w.lm_head = w.lm_head.slice_rows(part.vocab.begin, part.vocab.end);
  check_q8_columns("lm_head.weight", w.lm_head, table_format(format));
  for (std::int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.q_proj = r.matrix(p + "self_attn.q_proj.weight", QD, H).slice_rows(part.own_q_heads.begin * D, part.own_q_heads.end * D);
    lw.k_proj = r.matrix(p + "self_attn.k_proj.weight", KD, H).slice_rows(part.own_kv_heads.begin * D, part.own_kv_heads.end * D);
    lw.v_proj = r.matrix(p + "self_attn.v_proj.weight", KD, H).slice_rows(part.own_kv_heads.begin * D, part.own_kv_heads.end * D);
    lw.o_proj = slice_cols(r.matrix(p + "self_attn.o_proj.weight", H, QD), part.own_q_heads.begin * D, part.own_q_heads.end * D);
    lw.q_norm = r.vector(p + "self_attn.q_norm.weight", D);
    lw.k_norm = r.vector(p + "self_attn.k_norm.weight", D);
    if (cfg.moe && cfg.moe->sparse(l)) {
      // The router on every rank (each needs every token's choice); of the experts only this rank's
      // rows of its own (part.experts x part.expert_rows). The others' tensors are checked and left
      // to their ranks.
      const std::int64_t E = cfg.moe->num_experts, EI = cfg.moe->moe_intermediate_size;
      const Range rows = part.expert_rows;
      lw.router = r.matrix(p + "mlp.gate.weight", E, H);
      for (std::int64_t e = 0; e < E; ++e) {
        const std::string q = p + "mlp.experts." + std::to_string(e) + ".";
        ExpertWeights ew{r.matrix(q + "gate_proj.weight", EI, H), r.matrix(q + "up_proj.weight", EI, H), r.matrix(q + "down_proj.weight", H, EI)};
        if (e < part.experts.begin || e >= part.experts.end) continue;
        ew = {ew.gate_proj.slice_rows(rows.begin, rows.end), ew.up_proj.slice_rows(rows.begin, rows.end), slice_cols(ew.down_proj, rows.begin, rows.end)};
        check_q8_columns(q + "down_proj.weight", ew.down_proj, format);
        lw.experts.push_back(ew);
      }
      lw.first_expert = part.experts.begin;
      lw.sparse_layer = true;
    } else {
      lw.gate_proj = r.matrix(p + "mlp.gate_proj.weight", I, H).slice_rows(part.mlp.begin, part.mlp.end);
      lw.up_proj = r.matrix(p + "mlp.up_proj.weight", I, H).slice_rows(part.mlp.begin, part.mlp.end);
      lw.down_proj = slice_cols(r.matrix(p + "mlp.down_proj.weight", H, I), part.mlp.begin, part.mlp.end);
      check_q8_columns(p + "mlp.down_proj.weight", lw.down_proj, format);
    }
    lw.input_layernorm = r.vector(p + "input_layernorm.weight", H);
    lw.post_attention_layernorm = r.vector(p + "post_attention_layernorm.weight", H);
    check_q8_columns(p + "self_attn.o_proj.weight", lw.o_proj, format);
    check_q8_columns(p + "self_attn.q_proj.weight", lw.q_proj, format);  // hidden_size: every in-projection alike
    for (const auto* m : lw.matrices()) w.matrix_bytes += bytes_as(*m, in_memory_dtype(m->dtype, format));
    w.layers.push_back(std::move(lw));
  }
  r.check_all_used(cfg);
  if (!w.layers.empty()) w.stored_body_dtype = w.layers.front().q_proj.dtype;
  const bool keep_embedding = keeps_embedding(w, part);
  const bool tied_whole = cfg.tie_word_embeddings && !keep_embedding;
  w.matrix_bytes += bytes_as(w.lm_head, in_memory_dtype(w.lm_head.dtype, table_format(format)));
  if (!tied_whole && !keep_embedding) w.matrix_bytes += bytes_as(w.embed_tokens, in_memory_dtype(w.embed_tokens.dtype, table_format(format)));
  if (placement == WeightPlacement::Copy) copy_into_storage(w, keep_embedding, format);
  return w;
}

void copy_weights_into_memory(Qwen3Weights& w, const ModelPartition& part, WeightFormat format) {
  if (w.storage) return;
  copy_into_storage(w, keeps_embedding(w, part), format);
}

}  // namespace qwen3
