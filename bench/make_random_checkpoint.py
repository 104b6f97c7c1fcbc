#!/usr/bin/env python3
"""Write a random-weight Hugging Face Qwen3 checkpoint with the exact shape of a config.json.

Why: benchmarking qwen3_mpi against llama.cpp needs a model with the real
tensor shapes (so speed and memory traffic are representative), but the real
weights need not be present in every environment. This script builds a
Qwen3ForCausalLM from the given config, fills it with random weights
(linear/embedding ~ N(0, 0.02), RMSNorm weights = 1, so activations stay
sane), and saves it as safetensors (single file) in the requested dtype,
together with the tokenizer files copied from --tokenizer-dir. The output is
a regular HF checkpoint directory that both qwen3_mpi and llama.cpp's
convert_hf_to_gguf.py can read. Output text is meaningless; only speed is.

The output directory should live OUTSIDE the repository (checkpoints are
large: Qwen3-0.6B is ~1.2 GB in bf16, ~2.4 GB in f32).

Exact commands used for the benchmarks:

    python bench/make_random_checkpoint.py \
        --config /work/shared/qwen3-0.6b/config.json \
        --tokenizer-dir /work/shared/qwen3-0.6b \
        --dtype bf16 --out /work/bench-models/qwen3-0.6b-random-bf16 --seed 0

    python bench/make_random_checkpoint.py \
        --config /work/shared/qwen3-0.6b/config.json \
        --tokenizer-dir /work/shared/qwen3-0.6b \
        --dtype f32 --out /work/bench-models/qwen3-0.6b-random-f32 --seed 0

Requires torch, transformers (with Qwen3 support) and safetensors.
"""

import argparse
import os
import shutil
import sys

TOKENIZER_FILES_REQUIRED = ["tokenizer.json", "tokenizer_config.json"]
TOKENIZER_FILES_OPTIONAL = ["generation_config.json", "vocab.json", "merges.txt"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="path to a Qwen3 config.json")
    p.add_argument("--tokenizer-dir", required=True,
                   help="directory holding tokenizer.json, tokenizer_config.json, ...")
    p.add_argument("--dtype", choices=["bf16", "f16", "f32"], default="bf16",
                   help="dtype of the saved weights (default bf16)")
    p.add_argument("--out", required=True, help="output directory (outside the repo)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    p.add_argument("--std", type=float, default=0.02,
                   help="std of the normal init of linear/embedding weights (default 0.02)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    import torch
    from transformers import AutoConfig, Qwen3ForCausalLM

    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]

    config = AutoConfig.from_pretrained(os.path.dirname(os.path.abspath(args.config)))
    if config.model_type != "qwen3":
        sys.exit(f"error: config model_type is {config.model_type!r}, expected 'qwen3'")
    if hasattr(config, "dtype"):  # transformers >= 4.56 ("torch_dtype" is deprecated)
        config.dtype = dtype
    else:
        config.torch_dtype = dtype

    for name in TOKENIZER_FILES_REQUIRED:
        if not os.path.isfile(os.path.join(args.tokenizer_dir, name)):
            sys.exit(f"error: {name} not found in {args.tokenizer_dir}")

    # Build the module skeleton on the meta device (no allocation, no slow
    # default init), then materialise each parameter with torch.empty in the
    # target dtype and fill it ourselves.
    with torch.device("meta"):
        model = Qwen3ForCausalLM(config)
    model = model.to_empty(device="cpu").to(dtype)
    # to_empty() may untie shared parameters; re-tie before init so the tied
    # lm_head/embedding is a single tensor (save_pretrained then stores it once).
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()

    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    n_params = 0
    with torch.no_grad():
        for name, param in model.named_parameters():
            n_params += param.numel()
            if "norm" in name:  # input/post_attention layernorm, q_norm, k_norm, final norm
                param.fill_(1.0)
            elif name.endswith(".bias"):
                param.zero_()
            else:  # embeddings, attention/MLP projections, untied lm_head
                # normal_ on bf16 directly would draw in bf16; draw in f32 then cast
                # one tensor at a time to keep peak memory small.
                tmp = torch.empty(param.shape, dtype=torch.float32)
                tmp.normal_(mean=0.0, std=args.std, generator=gen)
                param.copy_(tmp)
                del tmp
        # Non-persistent buffers (rotary inv_freq) were left uninitialised by
        # to_empty(); recompute them from the config.
        for module in model.modules():
            if hasattr(module, "rope_init_fn") and hasattr(module, "inv_freq"):
                inv_freq, scaling = module.rope_init_fn(module.config, torch.device("cpu"))
                module.inv_freq = inv_freq
                module.original_inv_freq = inv_freq
                module.attention_scaling = scaling

    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True, max_shard_size="100GB")

    for name in TOKENIZER_FILES_REQUIRED + TOKENIZER_FILES_OPTIONAL:
        src = os.path.join(args.tokenizer_dir, name)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(args.out, name))

    print(f"wrote {args.out}: {n_params / 1e6:.1f}M params, dtype={args.dtype}, seed={args.seed}")


if __name__ == "__main__":
    main()
