#pragma once
// The Qwen3 weights as views into the memory-mapped checkpoint. Field names are the Hugging Face
// tensor names; shapes are [rows][cols] as stored (nn.Linear keeps [out_features][in_features]).
// Matrices stay in the checkpoint's dtype (bf16 is not widened: decode reads every byte per token)
// unless --weights asks for fewer bytes (WeightFormat); the small norm vectors become f32 at load.
#include <array>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/kernels.hpp"
#include "parallel/layout.hpp"
#include "memory/page_buffer.hpp"
#include "qwen3/config.hpp"
#include "qwen3/safetensors.hpp"

namespace qwen3 {

// One expert of a mixture-of-experts MLP: a SwiGLU MLP of moe_intermediate_size (on several ranks,
// this rank's rows of it: ModelPartition::expert_rows).
struct ExpertWeights {
  kernels::MatrixView gate_proj;  // [moe_intermediate][hidden]
  kernels::MatrixView up_proj;    // [moe_intermediate][hidden]
  kernels::MatrixView down_proj;  // [hidden][moe_intermediate]
};

struct LayerWeights {
  kernels::MatrixView q_proj;                 // [n_heads*head_dim][hidden]
  kernels::MatrixView k_proj;                 // [n_kv_heads*head_dim][hidden]
  kernels::MatrixView v_proj;                 // [n_kv_heads*head_dim][hidden]
  kernels::MatrixView o_proj;                 // [hidden][n_heads*head_dim]
  kernels::MatrixView gate_proj;              // [intermediate][hidden]   (dense MLP; empty in a sparse layer)
  kernels::MatrixView up_proj;                // [intermediate][hidden]
  kernels::MatrixView down_proj;              // [hidden][intermediate]
  kernels::MatrixView router;                 // [num_experts][hidden]    (qwen3_moe's mlp.gate; sparse layers only)
  std::vector<ExpertWeights> experts;         // this rank's experts: first_expert, first_expert + 1, ...
  std::int64_t first_expert = 0;
  bool sparse_layer = false;                  // qwen3_moe: router + experts instead of the dense MLP
  std::vector<float> input_layernorm;         // [hidden]
  std::vector<float> post_attention_layernorm;// [hidden]
  std::vector<float> q_norm;                  // [head_dim], shared by all query heads
  std::vector<float> k_norm;                  // [head_dim], shared by all key heads

  bool sparse() const { return sparse_layer; }
  // Every matrix of the layer (the dense MLP's, or the router and every expert's), for code that
  // treats them alike (byte counts, the huge-page copy).
  std::vector<kernels::MatrixView*> matrices() {
    std::vector<kernels::MatrixView*> m{&q_proj, &k_proj, &v_proj, &o_proj};
    if (!sparse()) {
      m.insert(m.end(), {&gate_proj, &up_proj, &down_proj});
      return m;
    }
    m.push_back(&router);
    for (ExpertWeights& e : experts) m.insert(m.end(), {&e.gate_proj, &e.up_proj, &e.down_proj});
    return m;
  }
};

struct Qwen3Weights {
  kernels::MatrixView embed_tokens;  // [vocab][hidden]
  kernels::MatrixView lm_head;       // [vocab][hidden]; embed_tokens itself when tie_word_embeddings
  std::vector<float> norm;           // [hidden]
  std::vector<LayerWeights> layers;  // [num_hidden_layers]
  std::size_t matrix_bytes = 0;      // bytes of this rank's matrices (tied lm_head counted once)
  std::shared_ptr<PageBuffer> storage;  // owns the matrices when copied out of the file mapping; nullptr: views
  std::deque<kernels::Fp8Scales> fp8_scales;
  DType checkpoint_dtype = DType::F32;  // the embedding table's dtype in the file, whatever --weights made of it
  DType stored_body_dtype = DType::F32; // the layers' matrices' dtype in the file
  // The embedding table stayed in the file mapping (several ranks) where --weights q8 quantizes it:
  // lookups round each row as a Q8 copy would (ops::embed).
  bool embedding_as_q8 = false;

  // The dtype of the layers' matrices in memory.
  DType body_dtype() const { return layers.empty() ? embed_tokens.dtype : layers.front().q_proj.dtype; }  // of the F8_E4M3 views, until load makes them Q8
  // Some matrices are still views into the file mapping, which must outlive them. With several ranks
  // the embedding table stays there: a step reads only the rows of its own tokens.
  bool reads_mapping = true;
};

// Where the matrices live while the model runs.
//   Copy: one huge-page-backed buffer, filled at load. Decode streams every weight byte per token,
//         and 2 MiB pages read ~1.7x faster than the file mapping's 4 KiB pages here (see PageBuffer).
//         If that buffer cannot be allocated, the weights stay in the mapping (storage == nullptr).
//   Map:  views straight into the memory-mapped checkpoint: no copy, pages shared with the page cache.
enum class WeightPlacement { Copy, Map };

// What the matrices become in memory (--weights):
//   AsStored: the checkpoint's dtype; FP8 (F8_E4M3) matrices become Q8 (our kernels multiply int8,
//             and they stay 8-bit: never widened to bf16).
//   Bf16:     f32 and f16 matrices rounded to bf16; bf16 ones as stored; FP8 ones refused.
//   Q8:       every matrix quantized to Q8 (kernels/q8.hpp), embedding and LM head included.
//   Q8Body:   the layers' matrices quantized to Q8, the embedding table and LM head kept as stored
//             (the LM head decides every token: README, "8-bit weights", measures what that buys).
// Any conversion is made while copying into memory, from the mapping straight into this rank's
// slice: no 16-bit copy is ever held.
enum class WeightFormat { AsStored, Bf16, Q8, Q8Body };
// The format of the embedding table and LM head under `format`.
WeightFormat table_format(WeightFormat format);
// The matrices' dtypes as the load line names them: "BF16", "Q8 from BF16", "Q8 from F8_E4M3,
// embedding BF16" (the embedding table or LM head named where they differ from the layers).
std::string describe_weight_dtypes(const Qwen3Weights& w);
// Parses "auto|bf16|q8|q8-body" (--weights); throws qwen3::Error on anything else.
WeightFormat parse_weight_format(std::string_view name);
// The dtype a matrix stored as `stored` has in memory under `format`.
DType in_memory_dtype(DType stored, WeightFormat format);

// Checks every tensor's name, dtype and shape against the config, and that the checkpoint holds no
// tensor the config does not explain (e.g. a fourth layer when num_hidden_layers is 3). Throws
// qwen3::Error naming the first mismatch. With a partition, the matrices are this rank's slices
// (parallel/layout.hpp): rows are views, columns (o_proj, down_proj) strided views; a copy packs them.
// matrix_bytes counts the bytes the matrices take in memory under `format`, already for views (Map):
// with a format that converts, views are only for checking and planning, and
// copy_weights_into_memory must convert them before a model runs on them.
Qwen3Weights load_weights(const Checkpoint& ckpt, const Qwen3Config& cfg, WeightPlacement placement = WeightPlacement::Map,
                          WeightFormat format = WeightFormat::AsStored);
Qwen3Weights load_weights(const Checkpoint& ckpt, const Qwen3Config& cfg, WeightPlacement placement, const ModelPartition& part,
                          WeightFormat format = WeightFormat::AsStored);
// WeightPlacement::Copy after the fact: weights loaded as views (Map) are copied into memory (and
// converted to `format`), the way load_weights would have. A caller checks that they fit in between
// (engine/memory_plan.hpp).
void copy_weights_into_memory(Qwen3Weights& w, const ModelPartition& part, WeightFormat format = WeightFormat::AsStored);
// Whether some matrix of these views changes dtype in memory under `format` (then it must be copied).
bool needs_conversion(const Qwen3Weights& w, WeightFormat format);

}  // namespace qwen3
