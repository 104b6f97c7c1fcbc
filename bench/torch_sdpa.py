#!/usr/bin/env python3
"""PyTorch's scaled_dot_product_attention on the GPU, for the comparison in bench/cuda_attention.cpp:
one decode query of a Qwen3 attention shape against DEPTH cached tokens of bf16 K/V, the median of
--reps calls of one layer (host clock around call and synchronize, as our benchmark), times the
model's layers.

Why: issue 25 measures our split-KV decode kernel against the general SDPA PyTorch ships, on the
same GPU, shapes and depths. Run on the GPU machine (it has torch); never in CI.

    python bench/torch_sdpa.py [--depth 4096,32768,131072] [--reps 20] [--json out.json]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

SHAPES = {"0.6b": dict(layers=28, heads=16, kv_heads=8, head_dim=128), "8b": dict(layers=36, heads=32, kv_heads=8, head_dim=128)}


def time_layer(shape, depth, reps):
    q = torch.randn(1, shape["heads"], 1, shape["head_dim"], device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, shape["kv_heads"], depth, shape["head_dim"], device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    run = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)  # noqa: E731
    run()
    torch.cuda.synchronize()
    # The host clock around the call and a synchronize, as bench/cuda_attention.cpp times our kernel:
    # launch cost included on both sides (CUDA events would leave PyTorch's out).
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))  # ms
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", default="0.6b,8b")
    ap.add_argument("--depth", default="4096,32768,131072")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    print(f"torch_sdpa: {torch.cuda.get_device_name(0)} | torch {torch.__version__} | bf16 K/V")
    print(f"{'shape':>6} {'layers':>8} {'depth':>8} {'SDPA ms/token':>16}")
    for name in a.shape.split(","):
        s = SHAPES[name]
        for depth in map(int, a.depth.split(",")):
            ms = time_layer(s, depth, a.reps) * s["layers"]
            print(f"{name:>6} {s['layers']:>8} {depth:>8} {ms:>16.3f}")
            rows.append(dict(shape=name, depth=depth, sdpa_ms_per_token=ms, device=torch.cuda.get_device_name(0), torch=torch.__version__, **s))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
