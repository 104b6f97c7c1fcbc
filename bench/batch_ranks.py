#!/usr/bin/env python3
"""Decode throughput of `qwen3_mpi batch` with B sequences at once, on one process and on ranks:
B prompts of --prompt random token ids (no shared prefix), --gen tokens each, every sequence admitted
at the first step with its whole prompt (--max-running B, a token budget of B x prompt), so after that
step every step decodes B tokens. From the results file: per-sequence TPOT (batch's tpot_ms, the mean
time per token after the first) and aggregate decode tokens/s = B x 1000 / mean TPOT.

    bench/batch_ranks.py --binary build/qwen3_mpi --model DIR [--batch 1,4,16,64] [--prompt 128] [--gen 32]
        [--layouts "1 process -t 2;tp 2 -n 2 -t 1;sp 2 -n 2 -t 1"] [--launcher "mpirun --oversubscribe"] [--json out.json]

A layout is "NAME -n RANKS OPTIONS...": RANKS > 1 runs under the launcher; OPTIONS go to qwen3_mpi
(`--tp 2`, `-t 1`, ...). Standard library only.
"""
import argparse
import json
import os
import random
import shlex
import statistics
import subprocess
import tempfile
import time


def run_layout(binary, model, launcher, ranks, options, batch, prompt, gen, workdir):
    rng = random.Random(batch)
    with open(os.path.join(model, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    inp = os.path.join(workdir, f"in_{batch}.jsonl")
    out = os.path.join(workdir, f"out_{batch}_{ranks}_{abs(hash(tuple(options)))}.jsonl")
    with open(inp, "w") as f:
        for i in range(batch):
            f.write(json.dumps({"id": f"s{i}", "prompt": [rng.randrange(vocab // 10, vocab // 2) for _ in range(prompt)], "max_tokens": gen,
                                "temperature": 0}) + "\n")
    if os.path.exists(out):
        os.remove(out)
    cmd = [binary, "batch", "-m", model, "--input", inp, "--output", out, "-c", str(prompt + gen + 64), "--max-running", str(batch),
           "--token-budget", str(max(batch * prompt, batch)), *options]
    if ranks > 1:
        cmd = [*launcher, "-n", str(ranks), *cmd]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    with open(out) as f:
        rows = [json.loads(line) for line in f]
    if len(rows) != batch or any("error" in r for r in rows):
        raise RuntimeError(f"{' '.join(cmd)}: {len(rows)} results of {batch}, first: {rows[:1]}")
    tpot = statistics.mean(r["tpot_ms"] for r in rows)
    ttft = statistics.median(r["ttft_ms"] for r in rows)
    return {"batch": batch, "ranks": ranks, "options": options, "wall_s": wall, "tpot_ms": tpot, "ttft_median_ms": ttft,
            "decode_tokens_per_s": batch * 1000.0 / tpot, "ids": {r["id"]: r["token_ids"] for r in rows}}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--batch", default="1,4,16,64")
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--gen", type=int, default=32)
    p.add_argument("--layouts", default="1 process -n 1 -t 2;tp 2 -n 2 --tp 2 --sp 1 -t 1;sp 2 -n 2 --tp 1 --sp 2 -t 1")
    p.add_argument("--launcher", default="mpirun --oversubscribe --allow-run-as-root")
    p.add_argument("--json")
    a = p.parse_args()
    layouts = []
    for spec in a.layouts.split(";"):
        name, rest = spec.split(" -n ", 1)
        words = shlex.split(rest)
        layouts.append((name.strip(), int(words[0]), words[1:]))
    rows = []
    print(f"{'layout':>12} {'B':>4} {'decode t/s':>11} {'TPOT ms':>8} {'TTFT ms':>8} {'vs 1st':>7} {'same ids':>9}")
    with tempfile.TemporaryDirectory() as work:
        for b in [int(x) for x in a.batch.split(",")]:
            first = None
            for name, ranks, options in layouts:
                r = run_layout(a.binary, a.model, shlex.split(a.launcher), ranks, options, b, a.prompt, a.gen, work)
                r["layout"] = name
                first = first or r
                r["ratio_to_first"] = r["decode_tokens_per_s"] / first["decode_tokens_per_s"]
                r["same_ids_as_first"] = r["ids"] == first["ids"]
                # Where they differ: how many sequences, and the earliest token that differs in them.
                diff = [next(i for i, (x, y) in enumerate(zip(r["ids"][k] + [None], first["ids"][k] + [None])) if x != y)
                        for k in first["ids"] if r["ids"].get(k) != first["ids"][k]]
                r["sequences_differing"] = len(diff)
                r["first_differing_token"] = min(diff) if diff else None
                print(f"{name:>12} {b:>4} {r['decode_tokens_per_s']:>11.2f} {r['tpot_ms']:>8.1f} {r['ttft_median_ms']:>8.0f} "
                      f"{r['ratio_to_first']:>6.2f}x {'yes' if not diff else f'{len(diff)} differ from token {min(diff)}':>9}", flush=True)
                rows.append({k: v for k, v in r.items() if k != "ids"})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
