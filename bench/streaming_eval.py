#!/usr/bin/env python3
"""StreamingLLM evaluation of qwen3_mpi's KV eviction policies, through `qwen3_mpi eval` (streaming
protocol: the text is fed token by token, each step's logits score the next token).

Runs, each one `qwen3_mpi eval --json` saved under OUT/runs/:
  1. the seed table: every policy at total cache budgets 64 .. 1024 over --tokens tokens, and `full`;
     sink-window, l2, h2o and random keep 4 sinks, window keeps none (the paper's baseline); h2o splits
     the rest of the budget evenly between heavy hitters and the recent window (the H2O paper's split);
  2. the paper's sink-size ablation: sink-window with 0, 1, 2, 4, 8 sinks at a total budget of 256;
  3. --evict-chunk 1, 16 and 64 for sink-window 4 + 252;
  4. a --long-tokens stream with sink-window 4 + 252 (latency and memory over the stream), and `full`
     over the same stream with --long-full (its time grows with the stream: about 20 minutes at 100,000).
Then writes OUT/table.md (and table.json) and four PNG plots. Runs one at a time (2 cores: nothing
else may run meanwhile); a run whose JSON exists is not repeated (--force repeats).

  bench/streaming_eval.py --model models/qwen3-gutenberg-11m --text BOOK.txt --out bench/results/streaming
"""
import argparse
import json
import math
import os
import subprocess
import sys

POLICIES = ["sink-window", "window", "l2", "h2o", "random"]
BUDGETS = [64, 128, 256, 512, 1024]


def run_eval(a, name, extra, tokens):
    path = os.path.join(a.out, "runs", name + ".json")
    if os.path.exists(path) and not a.force:
        with open(path) as f:
            return json.load(f)
    cmd = [a.binary, "eval", "-m", a.model, "--text", a.stream_file, "--max-tokens", str(tokens), "--json", "-t", str(a.threads),
           "--report-every", str(a.report_every)] + extra
    print("+", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    j["command"] = " ".join(cmd)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(j, f)
    return j


def policy_args(policy, budget, sinks=4):
    if policy == "full":
        return []
    if policy == "window":
        return ["--kv-policy", "window", "--window", str(budget)]
    if policy == "h2o":
        heavy = (budget - sinks) // 2
        return ["--kv-policy", "h2o", "--sink", str(sinks), "--heavy", str(heavy), "--window", str(budget - sinks - heavy)]
    return ["--kv-policy", policy, "--sink", str(sinks), "--window", str(budget - sinks)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--binary", default="build/qwen3_mpi")
    ap.add_argument("--tokens", type=int, default=32768)
    ap.add_argument("--long-tokens", type=int, default=100000)
    ap.add_argument("--skip-chars", type=int, default=20000, help="start after the book's front matter")
    ap.add_argument("--report-every", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--long-full", action="store_true", help="also run full over --long-tokens")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()

    # The stream: the book from --skip-chars on (past its front matter), as bytes.
    os.makedirs(a.out, exist_ok=True)
    a.stream_file = os.path.join(a.out, "runs", "stream.txt")
    os.makedirs(os.path.dirname(a.stream_file), exist_ok=True)
    with open(a.text, "rb") as f:
        text = f.read().decode("utf-8")[a.skip_chars:]
    with open(a.stream_file, "wb") as f:
        f.write(text.encode("utf-8"))

    full = run_eval(a, "full", [], a.tokens)
    table = [("full", "-", full)]
    for policy in POLICIES:
        for b in BUDGETS:
            table.append((policy, b, run_eval(a, f"{policy}_{b}", policy_args(policy, b), a.tokens)))
    ablation = [(s, run_eval(a, f"sinks{s}_256", ["--kv-policy", "sink-window", "--sink", str(s), "--window", str(256 - s)], a.tokens))
                for s in (0, 1, 2, 4, 8)]
    chunks = [(c, run_eval(a, f"evict_chunk{c}", policy_args("sink-window", 256) + ["--evict-chunk", str(c)], a.tokens))
              for c in (1, 16, 64)]
    long = run_eval(a, f"long_sink_window_256", policy_args("sink-window", 256), a.long_tokens)
    long_full = run_eval(a, "long_full", [], a.long_tokens) if a.long_full else full

    # The seed table, with the change against full.
    rows = []
    lines = [f"Model {a.model}, text {os.path.basename(a.text)} from character {a.skip_chars}, {a.tokens} tokens, "
             f"{a.threads} threads, streaming protocol.", "",
             "| policy | budget | PPL | vs full | accuracy | vs full | TTFT ms | TPOT ms | tokens/s | attn ms/tok | peak KV bytes | peak RSS bytes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for policy, b, j in table:
        rows.append({"policy": policy, "budget": b, **{k: j[k] for k in ("ppl", "accuracy", "ttft_ms", "tpot_ms", "tokens_per_s",
                                                                          "attn_ms_per_token", "peak_kv_bytes", "peak_rss_bytes")}})
        lines.append(f'| {policy} | {b} | {j["ppl"]:.2f} | {100 * (j["ppl"] / full["ppl"] - 1):+.1f} % | {j["accuracy"]:.4f} | '
                     f'{100 * (j["accuracy"] - full["accuracy"]):+.2f} pt | {j["ttft_ms"]:.2f} | {j["tpot_ms"]:.3f} | {j["tokens_per_s"]:.0f} | '
                     f'{j["attn_ms_per_token"]:.3f} | {j["peak_kv_bytes"]} | {j["peak_rss_bytes"]} |')
    lines += ["", "Sink ablation (sink-window, total budget 256):", "", "| sinks | PPL | accuracy |", "|---|---|---|"]
    lines += [f'| {s} | {j["ppl"]:.2f} | {j["accuracy"]:.4f} |' for s, j in ablation]
    lines += ["", "Evict chunk (sink-window 4 + 252):", "", "| --evict-chunk | PPL | accuracy | TPOT ms | tokens/s |", "|---|---|---|---|---|"]
    lines += [f'| {c} | {j["ppl"]:.2f} | {j["accuracy"]:.4f} | {j["tpot_ms"]:.3f} | {j["tokens_per_s"]:.0f} |' for c, j in chunks]
    w = long["windows"]
    settled = [x for x in w if x["start"] >= 1000]
    first_k = [x for x in settled if x["end"] <= settled[0]["start"] + 1000] or settled[:2]
    last_k = [x for x in w if x["start"] >= w[-1]["end"] - 1000] or w[-2:]
    mean = lambda xs, k: sum(x[k] for x in xs) / len(xs)
    at_10k = next((x for x in w if x["end"] >= 10000), w[-1])
    lines += ["", f'Long stream: sink-window 4 + 252 over {long["tokens"]} tokens: PPL {long["ppl"]:.2f}, accuracy {long["accuracy"]:.4f}, '
              f'TPOT {long["tpot_ms"]:.3f} ms; ms/token {mean(first_k, "ms_per_token"):.3f} after the budget filled vs '
              f'{mean(last_k, "ms_per_token"):.3f} over the last 1,000 tokens (ratio {mean(last_k, "ms_per_token") / mean(first_k, "ms_per_token"):.3f}); '
              f'RSS {at_10k["rss_bytes"]} bytes at 10,000 tokens vs {w[-1]["rss_bytes"]} at the end '
              f'({100 * (w[-1]["rss_bytes"] / at_10k["rss_bytes"] - 1):+.2f} %); KV bytes {at_10k["kv_bytes"]} vs {w[-1]["kv_bytes"]}.']
    if a.long_full:
        fw = long_full["windows"]
        lines += ["", f'Long stream, full (no eviction) over {long_full["tokens"]} tokens: PPL {long_full["ppl"]:.2f}, TPOT {long_full["tpot_ms"]:.3f} ms; '
                  f'ms/token {fw[-1]["ms_per_token"]:.3f} in its last window; RSS {fw[-1]["rss_bytes"]} bytes, KV bytes {fw[-1]["kv_bytes"]} at the end.']
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(a.out, "table.json"), "w") as f:
        json.dump({"table": rows, "ablation": [{"sinks": s, "ppl": j["ppl"], "accuracy": j["accuracy"]} for s, j in ablation],
                   "evict_chunk": [{"evict_chunk": c, "ppl": j["ppl"], "tpot_ms": j["tpot_ms"]} for c, j in chunks]}, f, indent=1)
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def mid(x):
        return (x["start"] + x["end"]) / 2

    # 1. log-PPL over the stream per policy at budget 256 (the paper's figure 3).
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, j in [("full", full)] + [(p, next(t[2] for t in table if t[0] == p and t[1] == 256)) for p in POLICIES]:
        # sink-window and window nearly coincide on a model without sinks: dashed so both show
        ax.plot([mid(x) for x in j["windows"]], [math.log(x["ppl"]) for x in j["windows"]], label=name,
                linestyle="--" if name == "sink-window" else "-", zorder=3 if name == "sink-window" else 2)
    ax.set_xlabel("stream position (tokens)")
    ax.set_ylabel(f"log PPL per {a.report_every}-token window")
    ax.set_title("log-PPL over the stream, total cache budget 256 (full: no eviction)")
    ax.axvline(512, color="gray", linestyle=":", label="trained context (512)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "log_ppl_over_stream.png"), dpi=110)

    # 2. PPL against budget per policy.
    fig, ax = plt.subplots(figsize=(7, 5))
    for p in POLICIES:
        pts = [(b, j["ppl"]) for q, b, j in table if q == p]
        ax.plot([b for b, _ in pts], [v for _, v in pts], marker="o", label=p,
                linestyle="--" if p == "sink-window" else "-", zorder=3 if p == "sink-window" else 2)
    ax.axhline(full["ppl"], color="black", linestyle="--", label="full")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("total cache budget (tokens)")
    ax.set_ylabel("PPL")
    ax.set_title(f"PPL over {a.tokens} tokens against the cache budget")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "ppl_vs_budget.png"), dpi=110)

    # 3, 4. Per-token latency and memory over the long stream, full beside it.
    for key, ylabel, fname, scale in (("ms_per_token", "ms per token", "latency_over_stream.png", 1.0),
                                      ("rss_bytes", "MiB", "memory_over_stream.png", 1 / 2**20)):
        fig, ax = plt.subplots(figsize=(9, 5))
        what = ", resident" if key == "rss_bytes" else ""
        ax.plot([mid(x) for x in long["windows"]], [x[key] * scale for x in long["windows"]], label="sink-window 4 + 252" + what)
        ax.plot([mid(x) for x in long_full["windows"]], [x[key] * scale for x in long_full["windows"]], label="full" + what)
        if key == "rss_bytes":
            ax.plot([mid(x) for x in long["windows"]], [x["kv_bytes"] * scale for x in long["windows"]], label="sink-window 4 + 252, KV cache")
            ax.plot([mid(x) for x in long_full["windows"]], [x["kv_bytes"] * scale for x in long_full["windows"]], label="full, KV cache")
        ax.set_xlabel("stream position (tokens)")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.set_title(("Per-token latency" if key == "ms_per_token" else "Memory") + f" over a {long['tokens']}-token stream")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, fname), dpi=110)
    print(f"wrote {a.out}/table.md and 4 PNG files")


if __name__ == "__main__":
    sys.exit(main())
