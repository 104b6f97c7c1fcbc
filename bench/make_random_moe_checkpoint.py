#!/usr/bin/env python3
"""Write a random bf16 Qwen3-MoE checkpoint of Qwen3-30B-A3B's shape with fewer layers, numpy only.

Why: the mixture-of-experts benchmarks (bench/README.md, "Mixture of experts") need the real tensor
shapes -- 128 experts of 768 rows, 8 active, hidden 2048, 4 KV heads -- but not the real weights,
and this machine cannot hold or download the 61 GB checkpoint. make_random_checkpoint.py builds
through transformers and torch, which would hold the whole model in memory; this writes the same
Hugging Face layout (config.json, model.safetensors, the tokenizer files) one tensor at a time.

Weights are N(0, 0.02) (router included, so routing is close to uniform: the load-balance figures it
gives are the statistical floor, not a trained router's skew), norms 1. Output text is meaningless.

    python bench/make_random_moe_checkpoint.py --layers 4 \\
        --tokenizer-dir /work/shared/qwen3-0.6b --out /work/bench-models/qwen3-30b-a3b-4layers-random-bf16

Requires numpy. The output belongs outside the repository (4 layers: 4.9 GB).
"""

import argparse
import json
import os
import shutil

import numpy as np

QWEN3_30B_A3B = {
    "architectures": ["Qwen3MoeForCausalLM"],
    "model_type": "qwen3_moe",
    "attention_bias": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "decoder_sparse_step": 1,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "max_position_embeddings": 40960,
    "max_window_layers": 48,
    "mlp_only_layers": [],
    "moe_intermediate_size": 768,
    "norm_topk_prob": True,
    "num_attention_heads": 32,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "num_hidden_layers": 48,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000.0,
    "router_aux_loss_coef": 0.001,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "vocab_size": 151936,
}


def tensor_shapes(cfg):
    """(name, shape) of every tensor, in the order transformers names them."""
    h, d, e, ei = cfg["hidden_size"], cfg["head_dim"], cfg["num_experts"], cfg["moe_intermediate_size"]
    q, kv = cfg["num_attention_heads"] * d, cfg["num_key_value_heads"] * d
    yield "model.embed_tokens.weight", (cfg["vocab_size"], h)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        yield p + "input_layernorm.weight", (h,)
        yield p + "post_attention_layernorm.weight", (h,)
        yield p + "self_attn.q_proj.weight", (q, h)
        yield p + "self_attn.k_proj.weight", (kv, h)
        yield p + "self_attn.v_proj.weight", (kv, h)
        yield p + "self_attn.o_proj.weight", (h, q)
        yield p + "self_attn.q_norm.weight", (d,)
        yield p + "self_attn.k_norm.weight", (d,)
        yield p + "mlp.gate.weight", (e, h)
        for x in range(e):
            yield p + f"mlp.experts.{x}.gate_proj.weight", (ei, h)
            yield p + f"mlp.experts.{x}.up_proj.weight", (ei, h)
            yield p + f"mlp.experts.{x}.down_proj.weight", (h, ei)
    yield "model.norm.weight", (h,)
    yield "lm_head.weight", (cfg["vocab_size"], h)


def bf16_bytes(shape, rng):
    if len(shape) == 1:
        return np.full(shape, 0x3F80, dtype=np.uint16).tobytes()  # 1.0: RMSNorm weights
    x = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    return (x.view(np.uint32) >> 16).astype(np.uint16).tobytes()  # truncated to bf16


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    cfg = dict(QWEN3_30B_A3B, num_hidden_layers=args.layers)
    os.makedirs(args.out, exist_ok=True)
    shapes = list(tensor_shapes(cfg))
    header, offset = {}, 0
    for name, shape in shapes:
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header_json = json.dumps(header).encode()
    header_json += b" " * (-len(header_json) % 8)
    rng = np.random.default_rng(args.seed)
    with open(os.path.join(args.out, "model.safetensors"), "wb") as f:
        f.write(len(header_json).to_bytes(8, "little"))
        f.write(header_json)
        for _, shape in shapes:
            f.write(bf16_bytes(shape, rng))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]:
        src = os.path.join(args.tokenizer_dir, name)
        if os.path.exists(src):
            shutil.copy(src, args.out)
    print(f"{args.out}: {len(shapes)} tensors, {offset / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
