#!/usr/bin/env python3
"""Plots bench/results/batch_decode_*.json (bench/batch_decode beside llama-batched-bench): aggregate
decode tokens/s and per-sequence TPOT against the number of sequences B.
    plot_batch_decode.py bench/results/batch_decode_qwen3-0.6b.json bench/results/batch_decode_qwen3-0.6b.png"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

data = json.load(open(sys.argv[1]))
fig, (tps, tpot) = plt.subplots(1, 2, figsize=(11, 4.2))
series = ((("auto", "f32", False), "o-"), (("auto", "f32", True), "s--"), (("auto", "bf16", False), "D-"), (("auto", "bf16", True), "v--"),
          (("q8", "f32", False), "P-"), (("q8", "f32", True), "P--"), (("q8", "int8", False), "X-"), (("q8", "int8", True), "X--"))
for (weights, decode_rows, invariant), style in series:
    rows = sorted((r for r in data["qwen3_mpi"] if r["batch_invariant"] == invariant and r.get("decode_rows", "f32") == decode_rows
                   and r.get("weights", "auto") == weights), key=lambda r: r["batch"])
    if not rows:
        continue
    label = ("qwen3_mpi" + (" --weights q8" if weights == "q8" else "") + (f" --decode-rows {decode_rows}" if decode_rows != "f32" else "")
             + (" --batch-invariant" if invariant else ""))
    tps.plot([r["batch"] for r in rows], [r["decode_tokens_per_s"] for r in rows], style, label=label)
    tpot.plot([r["batch"] for r in rows], [r["tpot_ms"] for r in rows], style, label=label)
llama = sorted(data["llama_cpp"]["rows"].items(), key=lambda kv: int(kv[0]))
gen = data["gen"]
tps.plot([int(b) for b, _ in llama], [r["s_tg"] for _, r in llama], "^-", label="llama.cpp " + data["llama_cpp"]["commit"])
tpot.plot([int(b) for b, _ in llama], [1000 * r["t_tg"] / gen for _, r in llama], "^-", label="llama.cpp " + data["llama_cpp"]["commit"])
for ax, name in ((tps, "aggregate decode tokens/s"), (tpot, "time per output token (ms)")):
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequences in one step (B)")
    ax.set_ylabel(name)
    ax.grid(True, alpha=0.3)
    ax.legend()
fig.suptitle(f"{data['checkpoint']}\n{data['machine']}; {data['threads']} threads, prompt {data['prompt']}, gen {gen}", fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
