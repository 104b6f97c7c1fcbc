#!/usr/bin/env python3
"""Load on an OpenAI-compatible server (qwen3_mpi serve, llama-server, vLLM), the same way for each:
C concurrent clients, each sending streamed /v1/completions requests one after another, every request
a fixed-length prompt of random words and exactly --gen generated tokens (ignore_eos where the server
knows it; our random checkpoints rarely stop anyway). Per concurrency level: requests/s, generated
tokens/s, TTFT p50/p99 (request sent -> first token) and TPOT p50/p99 ((last - first token) / (n - 1)).
With --shared-prefix-words N every prompt starts with the same N words (a system prompt) before its
own: the table then also gives the first request's TTFT (nothing cached yet) and the prompt tokens the
server says it took from its cache (usage.prompt_tokens_details.cached_tokens, where it reports them).
Standard library only.

    bench/serve_load.py --url http://127.0.0.1:8080 --label qwen3_mpi [--concurrency 1,4,16,64]
                        [--requests-per-client 4] [--prompt-words 100] [--shared-prefix-words 0]
                        [--gen 64] [--json out.json]
"""
import argparse
import json
import random
import threading
import time
import urllib.request


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def one_request(url, model, prompt, gen, extra):
    body = dict({"prompt": prompt, "max_tokens": gen, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}, **extra)
    if model:
        body["model"] = model
    req = urllib.request.Request(url + "/v1/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    sent = time.perf_counter()
    times, usage = [], {}
    with urllib.request.urlopen(req, timeout=600) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("choices") and chunk["choices"][0].get("text"):
                times.append(time.perf_counter())
            usage = chunk.get("usage") or usage
    if not times:
        raise RuntimeError("no tokens streamed")
    ttft = times[0] - sent
    tpot = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else float("nan")
    details = usage.get("prompt_tokens_details") or {}
    return ttft, tpot, len(times), sent, usage.get("prompt_tokens"), details.get("cached_tokens")


def level(url, model, concurrency, per_client, words, shared_words, gen, seed, extra):
    rng = random.Random(seed)
    vocab = "the of and to in a is that for it as was with be by on not he this are or his from at which".split()
    shared = " ".join(random.Random(-1).choice(vocab) for _ in range(shared_words))
    prompts = [(shared + " " if shared else "") + " ".join(rng.choice(vocab) for _ in range(words)) for _ in range(concurrency * per_client)]
    results, errors = [], []
    lock = threading.Lock()

    def client(i):
        for k in range(per_client):
            try:
                r = one_request(url, model, prompts[i * per_client + k], gen, extra)
                with lock:
                    results.append(r)
            except Exception as e:  # noqa: BLE001 -- counted and reported
                with lock:
                    errors.append(str(e))

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ttfts = [r[0] for r in results]
    tpots = [r[1] for r in results if r[1] == r[1]]
    first = min(results, key=lambda r: r[3]) if results else None
    cached = [r[5] for r in results if r[5] is not None]
    prompt_tokens = [r[4] for r in results if r[4] is not None]
    return {"concurrency": concurrency, "requests": len(results), "errors": len(errors), "wall_s": wall,
            "ttft_first_ms": 1000 * first[0] if first else float("nan"),
            "prompt_tokens_mean": sum(prompt_tokens) / len(prompt_tokens) if prompt_tokens else None,
            "cached_tokens_mean": sum(cached) / len(cached) if cached else None,
            "requests_per_s": len(results) / wall, "tokens_per_s": sum(r[2] for r in results) / wall,
            "ttft_p50_ms": 1000 * percentile(ttfts, 0.5), "ttft_p99_ms": 1000 * percentile(ttfts, 0.99),
            "tpot_p50_ms": 1000 * percentile(tpots, 0.5), "tpot_p99_ms": 1000 * percentile(tpots, 0.99),
            "first_error": errors[0] if errors else None}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--label", required=True)
    p.add_argument("--model", default="")
    p.add_argument("--concurrency", default="1,4,16,64")
    p.add_argument("--requests-per-client", type=int, default=4)
    p.add_argument("--prompt-words", type=int, default=100)
    p.add_argument("--shared-prefix-words", type=int, default=0, help="words every prompt starts with (a shared system prompt)")
    p.add_argument("--gen", type=int, default=64)
    p.add_argument("--extra", default="{}", help='JSON merged into every request, e.g. \'{"ignore_eos": true}\' for llama-server')
    p.add_argument("--json")
    a = p.parse_args()
    rows = []
    print(f"{'server':>12} {'C':>4} {'req':>5} {'err':>4} {'req/s':>7} {'tok/s':>8} {'TTFT p50':>9} {'TTFT p99':>9} {'TPOT p50':>9} {'TPOT p99':>9}"
          f" {'1st TTFT':>9} {'prompt':>7} {'cached':>7}")
    fmt = lambda v, spec: format(v, spec) if v is not None else format("-", spec.split(".")[0].rstrip("f"))
    for c in [int(x) for x in a.concurrency.split(",")]:
        r = level(a.url, a.model, c, a.requests_per_client, a.prompt_words, a.shared_prefix_words, a.gen, c, json.loads(a.extra))
        r["server"] = a.label
        r["shared_prefix_words"] = a.shared_prefix_words
        rows.append(r)
        print(f"{a.label:>12} {c:>4} {r['requests']:>5} {r['errors']:>4} {r['requests_per_s']:>7.2f} {r['tokens_per_s']:>8.1f} "
              f"{r['ttft_p50_ms']:>9.0f} {r['ttft_p99_ms']:>9.0f} {r['tpot_p50_ms']:>9.1f} {r['tpot_p99_ms']:>9.1f} {r['ttft_first_ms']:>9.0f} "
              f"{fmt(r['prompt_tokens_mean'], '>7.0f')} {fmt(r['cached_tokens_mean'], '>7.0f')}", flush=True)
        if r["first_error"]:
            print("   first error:", r["first_error"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
