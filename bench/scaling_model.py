#!/usr/bin/env python3
"""Scaling model for qwen3_mpi decode: tokens/s and per-rank memory of Qwen3-8B and Qwen3-32B on 1-64
nodes at contexts from 8 k to 1 M tokens, for the best tp x sp at each point; plotted to
bench/results/scaling_model.png (and the table as JSON beside it). The mixture-of-experts models
(Qwen3-30B-A3B, Qwen3-235B-A22B) in bf16 and 8-bit weights go to scaling_model_moe.png beside it.

Assumptions (each a parameter below; say which when quoting the plot):
  * One rank per node. Decode is memory-bound: a rank's step time is the bytes it reads (its weight
    slices plus its KV blocks) over the node's read bandwidth times the efficiency qwen3_mpi reaches
    on one node (the fraction of the roofline bench/decode measured here), plus the collectives.
  * The layout is qwen3_mpi's (src/parallel/layout.hpp): every weight is read by exactly one rank (q/k/v
    over heads, o_proj over heads, MLP over intermediate rows, LM head over vocabulary), so weight
    bytes per rank are total / N for any tp x sp; the KV cache splits as 1/(tp x sp): tp over KV heads
    (tp must divide them), sp over blocks.
  * Collectives per token, per layer: two all-reduces of the hidden vector (after o_proj and after the
    MLP); with sp > 1 also an all-gather of q, k, v within the sp group and a reduce-scatter of the
    attention states (head_dim + 2 floats per query head). One arg-max reduction per token. Costs by
    the usual latency-bandwidth (alpha-beta) model: all-reduce 2 log2(P) alpha + 2 (P-1)/P bytes / beta,
    all-gather and reduce-scatter log2(P) alpha + (P-1)/P bytes / beta.
  * alpha and beta of this machine are fitted to bench/collectives (2 ranks, shared memory and TCP on
    loopback), and the model is checked against the 2-rank runs of bench/ranks_side_by_side.sh; the
    cluster figures are parameters: 100 Gb/s InfiniBand (beta 12.5 GB/s, alpha 2 us), 200 GB/s read
    bandwidth and 256 GiB per node.
  * Mixture of experts: every rank holds the router; the experts are placed as --expert-split auto
    places them (src/parallel/layout.hpp): the N ranks form as few groups as keep every rank at least
    128 rows of an expert, each group holds num_experts / groups whole experts, and each of its ranks
    a share of every one's rows. A token reads its experts_per_token experts where they live, so a
    step waits for the rank that reads most of them: the expected maximum over ranks, by simulation
    with every expert equally likely (real routers are less even: this is the optimistic case).
    Attention, LM head and collectives as for the dense models. 8-bit weights read 1.0625 bytes per
    weight (Q8).
Usage: bench/scaling_model.py [--results bench/results] [--out bench/results/scaling_model.png]
"""
import argparse
import json
import math
import os

MODELS = {  # config.json of the Hugging Face checkpoints; bf16 weights and bf16 KV cache
    "Qwen3-8B": dict(layers=36, hidden=4096, heads=32, kv_heads=8, head_dim=128, inter=12288, vocab=151936, tied=False),
    "Qwen3-32B": dict(layers=64, hidden=5120, heads=64, kv_heads=8, head_dim=128, inter=25600, vocab=151936, tied=False),
    "Qwen3-0.6B": dict(layers=28, hidden=1024, heads=16, kv_heads=8, head_dim=128, inter=3072, vocab=151936, tied=True),
}
# Mixture-of-experts checkpoints (config.json of Qwen/Qwen3-30B-A3B and Qwen/Qwen3-235B-A22B).
MOE_MODELS = {
    "Qwen3-30B-A3B": dict(layers=48, hidden=2048, heads=32, kv_heads=4, head_dim=128, experts=128, active=8, moe_inter=768,
                          vocab=151936, tied=False),
    "Qwen3-235B-A22B": dict(layers=94, hidden=4096, heads=64, kv_heads=4, head_dim=128, experts=128, active=8, moe_inter=1536,
                            vocab=151936, tied=False),
}
BYTES_PER_WEIGHT = {"bf16": 2.0, "8-bit": 1.0625}
CONTEXTS = [8 * 1024, 32 * 1024, 128 * 1024, 1024 * 1024]
NODES = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]


def weight_bytes(m):
    """Bytes one decode step reads of the weights (bf16): every layer matrix and the LM head."""
    d = m["head_dim"]
    per_layer = m["hidden"] * (m["heads"] * d * 2 + m["kv_heads"] * d * 2) + 3 * m["hidden"] * m["inter"]
    return 2 * (m["layers"] * per_layer + m["vocab"] * m["hidden"])


def stored_weight_bytes(m):
    """Bytes of the checkpoint (the embedding is stored once more when untied)."""
    return weight_bytes(m) + (0 if m["tied"] else 2 * m["vocab"] * m["hidden"])


def kv_bytes_per_token(m):
    return 2 * m["layers"] * m["kv_heads"] * m["head_dim"] * 2  # K and V, bf16


def allreduce(p, nbytes, alpha, beta):
    return 0.0 if p == 1 else 2 * math.log2(p) * alpha + 2 * (p - 1) / p * nbytes / beta


def scatter_or_gather(p, nbytes, alpha, beta):
    return 0.0 if p == 1 else math.log2(p) * alpha + (p - 1) / p * nbytes / beta


def layouts(m, n):
    """Every tp x sp = n that qwen3_mpi accepts for this model."""
    return [(tp, n // tp) for tp in range(1, n + 1) if n % tp == 0 and m["kv_heads"] % tp == 0]


def step_seconds(m, ctx, tp, sp, net, node_bw, efficiency, ranks_per_node=1):
    """Seconds of one decode step at `ctx` cached tokens, and its parts."""
    n = tp * sp
    alpha, beta = net
    bw = node_bw / ranks_per_node  # ranks on one node share its memory bus
    read = weight_bytes(m) / n + kv_bytes_per_token(m) * ctx / n
    memory = read / (bw * efficiency)
    d = m["head_dim"]
    per_layer = 2 * allreduce(n, 4 * m["hidden"], alpha, beta)
    if sp > 1:
        qkv = 4 * d * (m["heads"] + 2 * m["kv_heads"]) / tp
        states = 4 * (d + 2) * m["heads"] / tp
        per_layer += scatter_or_gather(sp, qkv, alpha, beta) + scatter_or_gather(sp, states, alpha, beta)
    comm = m["layers"] * per_layer + allreduce(n, 8, alpha, 1e30)
    return memory + comm, memory, comm


def rank_memory(m, ctx, tp, sp):
    """Bytes a rank holds: its weight slices (the embedding stays in the file mapping: one row read
    per token) and its KV blocks at the full context."""
    return weight_bytes(m) / (tp * sp) + kv_bytes_per_token(m) * ctx / (tp * sp)


def moe_parts(m, bpw):
    """Bytes of the attention + LM head (read whole every step, split over ranks), of one expert, and of
    the routers (on every rank)."""
    d = m["head_dim"]
    attention = m["layers"] * m["hidden"] * (m["heads"] * d * 2 + m["kv_heads"] * d * 2)
    expert = 3 * m["hidden"] * m["moe_inter"]
    router = m["layers"] * m["experts"] * m["hidden"]
    return bpw * (attention + m["vocab"] * m["hidden"]), bpw * expert, bpw * router


def split_even(n, parts):
    """Sizes of split_even(n, part, parts) for every part (include/qwen3/partition.hpp)."""
    return [n // parts + (1 if p < n % parts else 0) for p in range(parts)]


def expert_groups(m, n):
    """choose_expert_groups for --expert-split auto: groups that keep each rank >= 128 rows."""
    members = max(1, m["moe_inter"] // 128)
    return min(n, -(-n // members))


def busiest_rank_experts(m, n, trials=4000, seed=0):
    """Expected expert-equivalents a token makes the busiest rank read: with the auto placement, a
    chosen expert costs each rank of its group 1 / (ranks in the group) of its bytes; every choice of
    experts equally likely."""
    import random
    rng = random.Random(seed)
    groups = expert_groups(m, n)
    group_sizes = split_even(n, groups)
    owner = []
    for g, count in enumerate(split_even(m["experts"], groups)):
        owner += [g] * count
    total = 0
    for _ in range(trials):
        counts = [0] * groups
        for e in rng.sample(range(m["experts"]), m["active"]):
            counts[owner[e]] += 1
        total += max(c / s for c, s in zip(counts, group_sizes))
    return total / trials


def moe_step_seconds(m, ctx, tp, sp, net, node_bw, efficiency, bpw):
    n = tp * sp
    dense, expert, router = moe_parts(m, bpw)
    read = dense / n + router + m["layers"] * busiest_rank_experts(m, n) * expert + kv_bytes_per_token(m) * ctx / n
    memory = read / (node_bw * efficiency)
    d = m["head_dim"]
    per_layer = 2 * allreduce(n, 4 * m["hidden"], net[0], net[1])
    if sp > 1:
        per_layer += scatter_or_gather(sp, 4 * d * (m["heads"] + 2 * m["kv_heads"]) / tp, *net)
        per_layer += scatter_or_gather(sp, 4 * (d + 2) * m["heads"] / tp, *net)
    comm = m["layers"] * per_layer + allreduce(n, 8, net[0], 1e30)
    return memory + comm, memory, comm


def moe_rank_memory(m, ctx, tp, sp, bpw):
    n = tp * sp
    dense, expert, router = moe_parts(m, bpw)
    groups = expert_groups(m, n)
    experts_here = split_even(m["experts"], groups)[0] / min(split_even(n, groups))  # the largest share
    return dense / n + router + m["layers"] * experts_here * expert + kv_bytes_per_token(m) * ctx / n


def fit_alpha_beta(path):
    """alpha, beta of the 2-rank all-reduce (t = 2 alpha + bytes / beta): alpha from the smallest
    message (4 KB, latency-bound), beta from the 1 MiB one (bandwidth-bound)."""
    with open(path) as f:
        rows = {r["bytes"]: r["seconds"] for r in json.load(f)["rows"] if r["collective"] == "allreduce_sum"}
    small, big = min(rows), 1 << 20
    alpha = rows[small] / 2
    return alpha, big / (rows[big] - 2 * alpha)


def decode_rows(path):
    with open(path) as f:
        j = json.load(f)
    return {(r["test"], r["attention"], r["depth"]): r for r in j["rows"]}, j


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--node-bw", type=float, default=200e9, help="read bandwidth per node, B/s")
    ap.add_argument("--node-mem", type=float, default=256 * 2**30, help="memory per node, bytes")
    ap.add_argument("--ib-alpha", type=float, default=2e-6, help="interconnect latency, s")
    ap.add_argument("--ib-beta", type=float, default=12.5e9, help="interconnect bandwidth, B/s")
    a = ap.parse_args()
    out = a.out or os.path.join(a.results, "scaling_model.png")

    # This machine: collectives fitted, efficiency from the one-process decode, then the 2-rank check.
    shm = fit_alpha_beta(os.path.join(a.results, "collectives_shm_2ranks.json"))
    tcp = fit_alpha_beta(os.path.join(a.results, "collectives_tcp_lo_2ranks.json"))
    print(f"this machine, 2 ranks: shared memory alpha {shm[0]*1e6:.1f} us, beta {shm[1]/1e9:.2f} GB/s; "
          f"TCP loopback alpha {tcp[0]*1e6:.1f} us, beta {tcp[1]/1e9:.2f} GB/s")
    one, one_j = decode_rows(os.path.join(a.results, "ranks_1x2.json"))
    local_bw = one[("decode", "streaming", 0)]["read_gbs"] * 1e9
    efficiency = one[("decode", "streaming", 0)]["fraction_of_roofline"]
    print(f"one process, 2 threads: {efficiency:.2f} of the roofline at depth 0 (read probe {local_bw/1e9:.1f} GB/s); "
          f"used as the efficiency of every rank below")
    m06 = MODELS["Qwen3-0.6B"]
    print("check against bench/ranks_side_by_side.sh (Qwen3-0.6B shape, this machine: 2 ranks share one memory bus):")
    print(f'  {"layout":12} {"depth":>6} {"measured t/s":>13} {"model t/s":>10}')
    for name, tp, sp in (("ranks_1x2", 1, 1), ("ranks_2x1_tp", 2, 1), ("ranks_2x1_sp", 1, 2)):
        rows, _ = decode_rows(os.path.join(a.results, name + ".json"))
        for (test, attn, depth), r in sorted(rows.items()):
            if test != "decode" or attn != "streaming":
                continue
            t, _, _ = step_seconds(m06, depth + 32, tp, sp, shm, local_bw, efficiency, ranks_per_node=tp * sp)
            print(f'  {f"tp {tp} x sp {sp}":12} {depth:>6} {r["tokens_per_s"]:>13.2f} {1 / t:>10.2f}')

    net = (a.ib_alpha, a.ib_beta)
    table = []
    for model in ("Qwen3-8B", "Qwen3-32B"):
        m = MODELS[model]
        for ctx in CONTEXTS:
            for n in NODES:
                best = None
                for tp, sp in layouts(m, n):
                    t, mem_s, comm_s = step_seconds(m, ctx, tp, sp, net, a.node_bw, efficiency)
                    fits = rank_memory(m, ctx, tp, sp) <= a.node_mem
                    cand = dict(model=model, context=ctx, nodes=n, tp=tp, sp=sp, tokens_per_s=1 / t, memory_s=mem_s,
                                comm_s=comm_s, rank_bytes=rank_memory(m, ctx, tp, sp), fits=fits)
                    if best is None or (cand["fits"], cand["tokens_per_s"]) > (best["fits"], best["tokens_per_s"]):
                        best = cand
                table.append(best)
    print(f"\ncluster: {a.node_bw/1e9:.0f} GB/s and {a.node_mem/2**30:.0f} GiB per node, alpha {a.ib_alpha*1e6:.1f} us, "
          f"beta {a.ib_beta/1e9:.1f} GB/s, efficiency {efficiency:.2f}; best layout per point")
    print(f'{"model":10} {"context":>8} {"nodes":>5} {"layout":>12} {"tokens/s":>9} {"comm %":>7} {"GiB/rank":>9} fits')
    for r in table:
        print(f'{r["model"]:10} {r["context"]:>8} {r["nodes"]:>5} {"tp %d x sp %d" % (r["tp"], r["sp"]):>12} '
              f'{r["tokens_per_s"]:>9.1f} {100 * r["comm_s"] / (r["memory_s"] + r["comm_s"]):>6.1f}% '
              f'{r["rank_bytes"] / 2**30:>9.1f} {"yes" if r["fits"] else "NO"}')
    print("\nevery layout at 8 nodes (Qwen3-8B): tokens/s")
    m8 = MODELS["Qwen3-8B"]
    for ctx in (8 * 1024, 1024 * 1024):
        cells = [f"tp {tp} x sp {sp}: {1 / step_seconds(m8, ctx, tp, sp, net, a.node_bw, efficiency)[0]:.1f}" for tp, sp in layouts(m8, 8)]
        print(f"  context {ctx:>8}: " + " | ".join(cells))
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump({"assumptions": {"node_bw": a.node_bw, "node_mem": a.node_mem, "alpha": a.ib_alpha, "beta": a.ib_beta,
                                   "efficiency": efficiency, "this_machine_shm": shm, "this_machine_tcp": tcp},
                   "points": table}, f, indent=1)

    moe_table = []
    for model, m in MOE_MODELS.items():
        for dtype, bpw in BYTES_PER_WEIGHT.items():
            for n in NODES:
                best = None
                for tp, sp in layouts(m, n):
                    t, mem_s, comm_s = moe_step_seconds(m, 32 * 1024, tp, sp, net, a.node_bw, efficiency, bpw)
                    rb = moe_rank_memory(m, 32 * 1024, tp, sp, bpw)
                    cand = dict(model=model, weights=dtype, context=32 * 1024, nodes=n, tp=tp, sp=sp, tokens_per_s=1 / t, memory_s=mem_s,
                                comm_s=comm_s, rank_bytes=rb, fits=rb <= a.node_mem)
                    if best is None or (cand["fits"], cand["tokens_per_s"]) > (best["fits"], best["tokens_per_s"]):
                        best = cand
                moe_table.append(best)
    print("\nmixture of experts, context 32 k, best layout per point (experts placed as --expert-split auto: rows in groups of ranks)")
    print(f'{"model":16} {"weights":>7} {"nodes":>5} {"layout":>12} {"tokens/s":>9} {"comm %":>7} {"GiB/rank":>9} fits')
    for r in moe_table:
        print(f'{r["model"]:16} {r["weights"]:>7} {r["nodes"]:>5} {"tp %d x sp %d" % (r["tp"], r["sp"]):>12} {r["tokens_per_s"]:>9.1f} '
              f'{100 * r["comm_s"] / (r["memory_s"] + r["comm_s"]):>6.1f}% {r["rank_bytes"] / 2**30:>9.1f} {"yes" if r["fits"] else "NO"}')
    with open(os.path.splitext(out)[0] + "_moe.json", "w") as f:
        json.dump({"assumptions": {"node_bw": a.node_bw, "node_mem": a.node_mem, "alpha": a.ib_alpha, "beta": a.ib_beta,
                                   "efficiency": efficiency, "routing": "uniform (optimistic)", "placement": "--expert-split auto"}, "points": moe_table}, f, indent=1)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for model in MOE_MODELS:
        for dtype in BYTES_PER_WEIGHT:
            pts = [r for r in moe_table if r["model"] == model and r["weights"] == dtype]
            xs = [r["nodes"] for r in pts]
            style = "-" if dtype == "bf16" else "--"
            line, = axes[0].plot(xs, [r["tokens_per_s"] for r in pts], style, marker="o", label=f"{model} {dtype}")
            axes[1].plot(xs, [r["rank_bytes"] / 2**30 for r in pts], style, marker="o", color=line.get_color(), label=f"{model} {dtype}")
            axes[2].plot(xs, [100 * r["comm_s"] / (r["memory_s"] + r["comm_s"]) for r in pts], style, marker="o", color=line.get_color(),
                         label=f"{model} {dtype}")
            for r in pts:
                if not r["fits"]:
                    axes[0].plot(r["nodes"], r["tokens_per_s"], "x", color="red", markersize=9)
    axes[1].axhline(a.node_mem / 2**30, color="red", linestyle="--", label="node memory")
    for ax, title in zip(axes, ("decode tokens/s (red x: does not fit)", "memory per rank, GiB", "communication share of a step, %")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(NODES)
        ax.set_xticklabels([str(n) for n in NODES])
        ax.set_xlabel("nodes (one rank each)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    fig.suptitle(f"qwen3_mpi mixture-of-experts decode model, context 32 k: {a.node_bw/1e9:.0f} GB/s/node x efficiency {efficiency:.2f}, "
                 f"experts as --expert-split auto, uniform routing", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.splitext(out)[0] + "_moe.png", dpi=110)

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), sharex=True)
    for col, model in enumerate(("Qwen3-8B", "Qwen3-32B")):
        for ctx in CONTEXTS:
            pts = [r for r in table if r["model"] == model and r["context"] == ctx]
            label = f"{ctx // 1024} k" if ctx < 1024 * 1024 else "1 M"
            xs = [r["nodes"] for r in pts]
            line, = axes[0][col].plot(xs, [r["tokens_per_s"] for r in pts], marker="o", label=f"context {label}")
            for r in pts:
                if not r["fits"]:
                    axes[0][col].plot(r["nodes"], r["tokens_per_s"], "x", color="red", markersize=9)
                if r["sp"] > 1:
                    axes[0][col].plot(r["nodes"], r["tokens_per_s"], "s", mfc="none", color=line.get_color(), markersize=10)
            axes[1][col].plot(xs, [r["rank_bytes"] / 2**30 for r in pts], marker="o", color=line.get_color(), label=f"context {label}")
        # Head parallelism alone (distributed-llama's scheme: 2^n nodes, at most one per KV head) at 128 k.
        m = MODELS[model]
        tp_only = [n for n in NODES if n & (n - 1) == 0 and n <= m["kv_heads"]]
        axes[0][col].plot(tp_only, [1 / step_seconds(m, 128 * 1024, n, 1, net, a.node_bw, efficiency)[0] for n in tp_only],
                          "k--", linewidth=1, label="128 k, heads only (2^n nodes <= KV heads)")
        axes[1][col].axhline(a.node_mem / 2**30, color="red", linestyle="--", label="node memory")
        axes[0][col].set_title(f"{model}: decode tokens/s, best tp x sp")
        axes[1][col].set_title(f"{model}: memory per rank (weights + KV)")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(NODES)
            ax.set_xticklabels([str(n) for n in NODES])
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        axes[1][col].set_xlabel("nodes (one rank each)")
    axes[0][0].set_ylabel("tokens/s (squares: sp > 1; red x: does not fit)")
    axes[1][0].set_ylabel("GiB per rank")
    fig.suptitle(f"qwen3_mpi decode scaling model: {a.node_bw/1e9:.0f} GB/s/node x efficiency {efficiency:.2f}, "
                 f"InfiniBand alpha {a.ib_alpha*1e6:.0f} us, beta {a.ib_beta/1e9:.1f} GB/s", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
