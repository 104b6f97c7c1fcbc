#!/usr/bin/env python3
"""Does a checkpoint have attention sinks?  Per layer, the mean attention probability that queries put
on the FIRST token of their window (StreamingLLM's figure 2 statistic; Xiao et al., arXiv 2309.17453).

The text is tokenized as one string (add_special_tokens=False) and cut into non-overlapping windows of
--ctx tokens.  Each window runs through the model in float32 with eager attention (which returns the
probabilities); for every layer the probability on key 0 is averaged over all query heads, over the
queries --first-query..ctx-1 (the early queries have few keys to spread over, so they are left out) and
over --windows windows.  Two kinds of window are measured, because a sink may belong to a token or to
a position:

  eot   the window's first token replaced by <|endoftext|> (how a document starts in training when
        every window starts with it; what a stream that starts with <|endoftext|> sees)
  text  the window as cut from the text (a stream that starts mid-document)

A model without sinks spreads its attention: the mass on key 0 is then about the uniform share
(mean over the queries of 1/(q+1), printed as "uniform").  Real LLMs put a large share there.

  python scripts/measure_attention_sinks.py --model models/qwen3-gutenberg-11m \\
      --text shared/corpora/gutenberg/crime-and-punishment-2554.txt --json out.json

Requirements: scripts/requirements-fixtures.txt (torch, transformers, tokenizers).
"""
import argparse
import json
import pathlib

import tokenizers
import torch
from transformers import AutoModelForCausalLM


def first_key_mass(model, windows: torch.Tensor, first_query: int) -> list:
    with torch.no_grad():
        out = model(input_ids=windows, output_attentions=True, use_cache=False)
    # attentions: one [batch, heads, q, k] tensor per layer
    return [a[:, :, first_query:, 0].mean().item() for a in out.attentions]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=pathlib.Path)
    ap.add_argument("--text", required=True, type=pathlib.Path)
    ap.add_argument("--ctx", type=int, default=512, help="window length (the model's trained context)")
    ap.add_argument("--windows", type=int, default=8, help="windows measured, from the start of the text")
    ap.add_argument("--first-query", type=int, default=64, help="queries before this one are left out")
    ap.add_argument("--json", type=pathlib.Path, help="also write the figures here")
    a = ap.parse_args()

    tok = tokenizers.Tokenizer.from_file(str(a.model / "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    ids = tok.encode(a.text.read_text(encoding="utf-8"), add_special_tokens=False).ids
    if len(ids) < a.windows * a.ctx:
        raise SystemExit(f"{a.text}: {len(ids)} tokens, fewer than {a.windows} windows of {a.ctx}")
    text_windows = torch.tensor([ids[i * a.ctx:(i + 1) * a.ctx] for i in range(a.windows)])
    eot_windows = text_windows.clone()
    eot_windows[:, 0] = eot

    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32, attn_implementation="eager").eval()
    result = {
        "model": str(a.model), "text": str(a.text), "ctx": a.ctx, "windows": a.windows, "first_query": a.first_query,
        "uniform": sum(1.0 / (q + 1) for q in range(a.first_query, a.ctx)) / (a.ctx - a.first_query),
        "eot": first_key_mass(model, eot_windows, a.first_query),
        "text": first_key_mass(model, text_windows, a.first_query),
    }
    print(f"mean attention probability on key 0, queries {a.first_query}-{a.ctx - 1}, {a.windows} windows of {a.ctx} "
          f"(uniform share {result['uniform']:.4f})")
    print(f"{'layer':>5} {'eot first':>10} {'text first':>10}")
    for i, (e, t) in enumerate(zip(result["eot"], result["text"])):
        print(f"{i:>5} {e:>10.4f} {t:>10.4f}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
