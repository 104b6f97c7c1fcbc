#!/usr/bin/env python3
"""Reference perplexity for `qwen3_mpi eval`, computed by Hugging Face transformers.

The evaluator's default protocol feeds a text token by token through a KV cache that keeps every
token; for a causal model that is the same as one forward pass over the whole stream, so the
reference is: tokenize the file as one string (add_special_tokens=False), run Qwen3ForCausalLM in
float32 on the checkpoint's (bf16) weights, and take exp(mean NLL) of tokens 1..N-1 given their
prefix (the first token is context only). The figure is written as a small JSON fixture that a test
compares with the C++ evaluator (bf16 KV cache by default) within 0.5 %.

  python scripts/make_eval_reference.py --model models/NAME --text tests/data/eval/EXCERPT.txt \\
      --out tests/data/eval/NAME-reference.json

Requirements: scripts/requirements-fixtures.txt (torch, transformers, tokenizers).
"""
import argparse
import json
import math
import pathlib

import tokenizers
import torch
import transformers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=pathlib.Path)
    ap.add_argument("--text", required=True, type=pathlib.Path)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--max-tokens", type=int, default=0, help="keep the first N tokens (0 = all)")
    args = ap.parse_args()

    torch.manual_seed(0)
    text = args.text.read_bytes().decode("utf-8")  # raw: CRLF stays CRLF, as the C++ side reads bytes
    tok = tokenizers.Tokenizer.from_file(str(args.model / "tokenizer.json"))
    ids = tok.encode(text, add_special_tokens=False).ids
    if args.max_tokens:
        ids = ids[: args.max_tokens]
    model = transformers.Qwen3ForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits[:-1], dim=-1)
    target = torch.tensor(ids[1:])
    nll = -logp[torch.arange(len(ids) - 1), target]
    accuracy = (logits[:-1].argmax(-1) == target).double().mean().item()
    out = {
        "model": str(args.model),
        "text": str(args.text),
        "protocol": "streaming, full cache (one causal forward pass)",
        "tokens": len(ids),
        "scored": len(ids) - 1,
        "ppl": math.exp(nll.mean().item()),
        "accuracy": accuracy,
        "compute": "float32 on the checkpoint's bf16 weights, eager attention",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "regenerate": "python scripts/make_eval_reference.py --model %s --text %s --out %s" % (args.model, args.text, args.out),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
