"""`qwen3_mpi serve` against real clients: the official openai client, curl and raw HTTP.

    test_serve.py GROUP BINARY MODEL [LAUNCHER...]

Groups (one CTest entry each):
  api     every endpoint, streamed and not, with the openai client and curl; greedy text equal to
          `qwen3_mpi -p` (one process, one sequence), also from a cached shared prefix; n, seed, stop
          strings, logprobs; every refusal in
          OpenAI's error shape with its status; a client that hangs up mid-stream frees its blocks;
          SIGTERM finishes the running stream and exits 0
  queue   a full queue answers 503 with Retry-After; the requests it took still complete
  load    32 concurrent clients x 10 requests (streamed, not, sampled, some hung up mid-stream): every
          request a complete answer, greedy ones equal to the same request run alone; afterwards the KV
          pool is empty and RSS back to its level before the load
  mpi     the server on 3 ranks splitting the KV sequence (LAUNCHER): idle ranks sleep; greedy text
          equal to one process, streamed and not, also from a cached shared prefix
Exit 77 with "SKIPPED: requires openai-client: ..." when the test venv lacks the openai client.
"""
import concurrent.futures
import json
import os
import random
import subprocess
import sys
import time

try:
    import openai
except ImportError as e:
    print(f"SKIPPED: requires openai-client: {e} (bash scripts/setup.sh makes the test venv)")
    sys.exit(77)

from serve_client import Server, abandoned_stream, request, sse_events, wait_until

GROUP, BINARY, MODEL = sys.argv[1:4]
LAUNCHER = sys.argv[4:]
KEY = "test-key-1234"
AUTH = {"Authorization": "Bearer " + KEY}
PROMPTS = ["It was a dark and stormy night, and", "The old man looked at the sea", "Once upon a time", "She opened the letter"]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def generate_alone(prompt, n):
    """The same prompt through `qwen3_mpi -p` (one process, one sequence, greedy): the referee."""
    out = subprocess.run([BINARY, "-m", MODEL, "-p", prompt, "-n", str(n), "--temp", "0", "-t", "1"], capture_output=True, text=True, timeout=120)
    check(out.returncode == 0, "generate failed: " + out.stderr)
    return out.stdout.rstrip("\n")


def client(server, key=KEY):
    return openai.OpenAI(base_url=server.address + "/v1", api_key=key, max_retries=0, timeout=120)


def model_name():
    return MODEL.rstrip("/").rsplit("/", 1)[-1]


def error_of(status, text):
    body = json.loads(text)
    check(set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"]), f"not OpenAI's error shape: {text}")
    return status, body["error"]


def check_greedy_text(server, references):
    c = client(server)
    for prompt, want in references.items():
        got = c.completions.create(model=model_name(), prompt=prompt, max_tokens=24, temperature=0)
        check(got.choices[0].text == want, f"completions {prompt!r}: {got.choices[0].text!r} != generate's {want!r}")
        check(got.usage.completion_tokens == 24 and got.choices[0].finish_reason == "length", f"usage/finish: {got}")
        streamed = c.completions.create(model=model_name(), prompt=prompt, max_tokens=24, temperature=0, stream=True,
                                        stream_options={"include_usage": True})
        parts, usage, finish = [], None, None
        for chunk in streamed:
            if chunk.usage:
                usage = chunk.usage
            for ch in chunk.choices:
                parts.append(ch.text)
                finish = ch.finish_reason or finish
        check("".join(parts) == want, f"streamed {prompt!r}: {''.join(parts)!r} != {want!r}")
        check(usage is not None and usage.completion_tokens == 24 and finish == "length", f"stream usage/finish: {usage} {finish}")


SHARED_PREFIX = "You are a storyteller of the old school. You speak plainly, you never hurry, and you end each tale well. " * 4


def check_shared_prefix(server, references):
    """Two prompts that start with the same long text: the second starts from the first one's cached
    KV blocks (usage.prompt_tokens_details.cached_tokens) and its greedy text is still generate's."""
    c = client(server)
    cached = []
    for prompt, want in references.items():
        got = c.completions.create(model=model_name(), prompt=prompt, max_tokens=24, temperature=0)
        check(got.choices[0].text == want, f"shared prefix {prompt[-30:]!r}: {got.choices[0].text!r} != generate's {want!r}")
        cached.append(got.usage.prompt_tokens_details.cached_tokens)
    check(cached[0] == 0 and cached[1] >= 64 and cached[1] % 64 == 0 and cached[1] < got.usage.prompt_tokens,
          f"cached tokens {cached} (prompt of {got.usage.prompt_tokens})")


def check_curl(server, prompt, want):
    body = json.dumps({"prompt": prompt, "max_tokens": 24, "temperature": 0})
    plain = subprocess.run(["curl", "-sS", "-H", "Authorization: Bearer " + KEY, "-H", "Content-Type: application/json",
                            "-d", body, server.address + "/v1/completions"], capture_output=True, text=True, timeout=60)
    check(json.loads(plain.stdout)["choices"][0]["text"] == want, "curl: " + plain.stdout)
    stream = subprocess.run(["curl", "-sSN", "-H", "Authorization: Bearer " + KEY, "-d", json.dumps(dict(json.loads(body), stream=True)),
                             server.address + "/v1/completions"], capture_output=True, text=True, timeout=60)
    events = sse_events(stream.stdout)
    check(events[-1] == "[DONE]", "curl stream does not end with [DONE]: " + stream.stdout[-200:])
    text = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    check(text == want, f"curl stream: {text!r} != {want!r}")


def check_chat(server):
    c = client(server)
    messages = [{"role": "system", "content": "You tell stories."}, {"role": "user", "content": "Tell me about the sea."}]
    whole = c.chat.completions.create(model=model_name(), messages=messages, max_tokens=20, temperature=0)
    streamed = c.chat.completions.create(model=model_name(), messages=messages, max_completion_tokens=20, temperature=0, stream=True)
    roles, parts = [], []
    for chunk in streamed:
        for ch in chunk.choices:
            roles += [ch.delta.role] if ch.delta.role else []
            parts.append(ch.delta.content or "")
    check(whole.choices[0].message.role == "assistant" and roles == ["assistant"], f"roles: {whole.choices[0].message.role} {roles}")
    check("".join(parts) == whole.choices[0].message.content, f"chat stream {''.join(parts)!r} != {whole.choices[0].message.content!r}")
    check(whole.usage.completion_tokens == 20, f"chat usage {whole.usage}")
    # Thinking off (as vLLM's chat_template_kwargs): a different prompt, so a different reply length or text is fine;
    # what matters is that it is accepted.
    off = c.chat.completions.create(model=model_name(), messages=messages, max_tokens=5, temperature=0,
                                    extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    check(off.usage.prompt_tokens == whole.usage.prompt_tokens + 4, f"enable_thinking false adds the empty think block: {off.usage} vs {whole.usage}")


def check_choices_seed_stop_logprobs(server, prompt, want):
    c = client(server)
    a = c.completions.create(model=model_name(), prompt=prompt, max_tokens=16, temperature=0.9, n=3, seed=7)
    b = c.completions.create(model=model_name(), prompt=prompt, max_tokens=16, temperature=0.9, n=3, seed=7)
    check(sorted(ch.index for ch in a.choices) == [0, 1, 2], f"n=3 indexes: {a}")
    check([ch.text for ch in a.choices] == [ch.text for ch in b.choices], "the same seed gave different choices")
    check(len({ch.text for ch in a.choices}) > 1, "n=3 sampled choices are all the same")
    check(a.usage.completion_tokens == 48, f"n=3 usage: {a.usage}")
    # A stop string from inside the greedy text: the text ends just before it.
    words = want.split(" ")
    stop = " " + words[4]
    cut = want.index(stop)
    for stream in (False, True):
        got = c.completions.create(model=model_name(), prompt=prompt, max_tokens=24, temperature=0, stop=[stop, "zzzz"], stream=stream)
        if stream:
            text, finish = "", None
            for chunk in got:
                text += "".join(ch.text for ch in chunk.choices)
                finish = next((ch.finish_reason for ch in chunk.choices if ch.finish_reason), finish)
        else:
            text, finish = got.choices[0].text, got.choices[0].finish_reason
        check(text == want[:cut] and finish == "stop", f"stop {stop!r} (stream={stream}): {text!r}, {finish}; wanted {want[:cut]!r}")
    # Logprobs: greedy, so each chosen token heads its alternatives.
    chat = c.chat.completions.create(model=model_name(), messages=[{"role": "user", "content": prompt}], max_tokens=6, temperature=0,
                                     logprobs=True, top_logprobs=3)
    content = chat.choices[0].logprobs.content
    check(len(content) == 6, f"chat logprobs: {len(content)} entries")
    for t in content:
        check(len(t.top_logprobs) == 3 and t.top_logprobs[0].token == t.token and abs(t.top_logprobs[0].logprob - t.logprob) < 1e-6
              and t.logprob <= 0, f"chat logprob entry {t}")
    comp = c.completions.create(model=model_name(), prompt=prompt, max_tokens=6, temperature=0, logprobs=2)
    lp = comp.choices[0].logprobs
    check(len(lp.tokens) == 6 and len(lp.token_logprobs) == 6 and all(len(t) <= 2 for t in lp.top_logprobs), f"completions logprobs {lp}")
    check("".join(lp.tokens) == comp.choices[0].text, f"logprob tokens {lp.tokens} do not spell {comp.choices[0].text!r}")


def check_refusals(server):
    ok_body = {"prompt": "hello", "max_tokens": 2}
    cases = [
        ("no key", "/v1/completions", ok_body, {}, 401, "invalid_api_key"),
        ("wrong key", "/v1/completions", ok_body, {"Authorization": "Bearer wrong"}, 401, "invalid_api_key"),
        ("bad JSON", "/v1/completions", b"{not json", AUTH, 400, None),
        ("unknown field", "/v1/completions", dict(ok_body, frobnicate=1), AUTH, 400, None),
        ("unknown model", "/v1/completions", dict(ok_body, model="gpt-4"), AUTH, 404, "model_not_found"),
        ("past the context", "/v1/completions", {"prompt": "word " * 1100, "max_tokens": 2}, AUTH, 400, "context_length_exceeded"),
        ("max_tokens past the context", "/v1/completions", dict(ok_body, max_tokens=100000), AUTH, 400, "context_length_exceeded"),
        ("id out of range", "/v1/completions", {"prompt": [1, 2, 10**9]}, AUTH, 400, None),
        ("n = 0", "/v1/completions", dict(ok_body, n=0), AUTH, 400, None),
        ("temperature 3", "/v1/completions", dict(ok_body, temperature=3), AUTH, 400, None),
        ("stream_options without stream", "/v1/completions", dict(ok_body, stream_options={"include_usage": True}), AUTH, 400, None),
        ("chat without messages", "/v1/chat/completions", {"max_tokens": 2}, AUTH, 400, None),
        ("unsupported penalty", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "presence_penalty": 1}, AUTH, 400, None),
        ("body too large", "/v1/completions", {"prompt": "x" * 70000}, AUTH, 413, None),
    ]
    for name, path, body, headers, status, code in cases:
        got, err = error_of(*request(server, "POST", path, body, headers)[::2])
        check(got == status, f"{name}: status {got}, wanted {status}: {err}")
        check(code is None or err["code"] == code, f"{name}: code {err['code']}, wanted {code}")
        check(status in (401, 413) or err["param"] is not None or name in ("bad JSON",), f"{name}: no param named: {err}")
    status, err = error_of(*request(server, "GET", "/v1/nothing-here", None, AUTH)[::2])
    check(status == 404, f"unknown route: {status}")
    try:
        client(server, key="wrong").completions.create(model=model_name(), prompt="x", max_tokens=1)
        check(False, "the openai client got through with a wrong key")
    except openai.AuthenticationError:
        pass
    try:
        client(server).completions.create(model=model_name(), prompt="x", max_tokens=1, temperature=5)
        check(False, "temperature 5 was accepted")
    except openai.BadRequestError:
        pass


def check_hang_up_frees_blocks(server):
    before = server.metrics()
    seen = abandoned_stream(server, "/v1/completions", {"prompt": "Once upon a time", "max_tokens": 1000}, 3, AUTH)
    check(seen == 3, f"read {seen} events before hanging up")

    def released():
        m = server.metrics()
        return m['qwen3_requests_total{outcome="cancelled"}'] == before['qwen3_requests_total{outcome="cancelled"}'] + 1 and \
            m["qwen3_kv_blocks_used"] == 0 and m["qwen3_sequences_running"] == 0
    wait_until(released, 20, "the hung-up stream's sequence to leave and free its blocks")
    m = server.metrics()
    check(m["qwen3_generated_tokens_total"] - before["qwen3_generated_tokens_total"] < 1000, "the abandoned request ran to the end")


def check_sigterm_drains(server):
    c = client(server)
    stream = c.completions.create(model=model_name(), prompt="Once upon a time", max_tokens=120, temperature=0, stream=True)
    first = next(iter(stream))
    rc_holder = {}
    import threading
    t = threading.Thread(target=lambda: rc_holder.update(zip(("rc", "log"), server.stop())))
    t.start()
    tokens = 1 + sum(1 for _ in stream)
    t.join(60)
    check(tokens >= 100, f"the running stream was cut at SIGTERM ({tokens} chunks)")
    check(rc_holder.get("rc") == 0, f"exit status after SIGTERM: {rc_holder.get('rc')}\n{rc_holder.get('log')}")
    check("serve: stopped" in rc_holder["log"], "no 'serve: stopped' line:\n" + rc_holder["log"])


def run_api():
    references = {p: generate_alone(p, 24) for p in PROMPTS[:3]}
    shared = {SHARED_PREFIX + p: generate_alone(SHARED_PREFIX + p, 24) for p in PROMPTS[2:4]}
    server = Server(BINARY, MODEL, ["-c", "1024", "--max-body", "65536"], api_key=KEY)
    status, _, health = request(server, "GET", "/health")
    check(status == 200 and json.loads(health)["status"] == "ok", "health: " + health)
    models = client(server).models.list()
    check([m.id for m in models.data] == [model_name()], f"models: {models}")
    check_greedy_text(server, references)
    check_shared_prefix(server, shared)
    check_curl(server, PROMPTS[0], references[PROMPTS[0]])
    check_chat(server)
    check_choices_seed_stop_logprobs(server, PROMPTS[0], references[PROMPTS[0]])
    check_refusals(server)
    check_hang_up_frees_blocks(server)
    check_sigterm_drains(server)


def run_queue():
    server = Server(BINARY, MODEL, ["-c", "512", "--max-running", "1", "--token-budget", "64", "--max-queue", "1"])
    body = {"prompt": "Once upon a time", "max_tokens": 300, "temperature": 0}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: request(server, "POST", "/v1/completions", body), range(4)))
    statuses = sorted(r[0] for r in results)
    check(statuses.count(200) >= 2 and statuses.count(503) >= 1 and set(statuses) <= {200, 503}, f"statuses {statuses}")
    for status, headers, text in results:
        if status == 503:
            _, err = error_of(status, text)
            check(headers.get("Retry-After") == "1" and err["code"] == "queue_full", f"503 without Retry-After or code: {headers} {err}")
        else:
            check(json.loads(text)["usage"]["completion_tokens"] == 300, "a queued request did not complete")
    rc, log = server.stop()
    check(rc == 0, "exit status " + str(rc))


def run_load():
    # --batch-invariant: greedy requests must give the text they give alone, whatever runs beside them
    # (without it, rounding in the batched products flipped 3 of 320 near-tied greedy choices).
    server = Server(BINARY, MODEL, ["-c", "512", "--max-running", "16", "--batch-invariant"])
    c = client(server)
    alone = {}
    for p in PROMPTS:  # each greedy request alone, one at a time: the referee for the same request under load
        alone[p] = c.completions.create(model=model_name(), prompt=p, max_tokens=32, temperature=0).choices[0].text

    def one(job):
        kind, p = job
        if kind == "hang-up":
            abandoned_stream(server, "/v1/completions", {"prompt": p, "max_tokens": 200}, 2)
            return kind, True
        cc = client(server)
        if kind == "greedy":
            return kind, cc.completions.create(model=model_name(), prompt=p, max_tokens=32, temperature=0).choices[0].text == alone[p]
        if kind == "greedy-stream":
            text = "".join(ch.text for chunk in cc.completions.create(model=model_name(), prompt=p, max_tokens=32, temperature=0, stream=True)
                           for ch in chunk.choices)
            return kind, text == alone[p]
        reply = cc.chat.completions.create(model=model_name(), messages=[{"role": "user", "content": p}], max_tokens=24, temperature=0.8,
                                           seed=random.randrange(1000), stream=kind == "sampled-stream")
        if kind == "sampled-stream":
            finishes = [ch.finish_reason for chunk in reply for ch in chunk.choices if ch.finish_reason]
            return kind, finishes in (["length"], ["stop"])
        return kind, reply.choices[0].finish_reason in ("length", "stop")

    kinds = ["greedy", "greedy-stream", "sampled", "sampled-stream", "hang-up"]
    rng = random.Random(5)

    def jobs(clients, per_client):
        return [[(kinds[(i + k) % len(kinds)], rng.choice(PROMPTS)) for k in range(per_client)] for i in range(clients)]

    def run_clients(plan):
        with concurrent.futures.ThreadPoolExecutor(len(plan)) as pool:
            return [r for rs in pool.map(lambda js: [one(j) for j in js], plan) for r in rs]

    # A first load of the same size: every HTTP worker thread touched (its stack), allocator arenas and
    # step buffers at their largest. Then the measured load must leave RSS where the first one left it.
    run_clients(jobs(32, 10))
    wait_until(lambda: server.metrics()["qwen3_sequences_running"] == 0, 30, "the warm-up to finish")
    rss_before = server.rss_kib()
    started = time.time()
    results = run_clients(jobs(32, 10))
    elapsed = time.time() - started
    failed = [k for k, ok in results if not ok]
    check(len(results) == 320 and not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:10]}")
    wait_until(lambda: (lambda m: m["qwen3_sequences_running"] == 0 and m["qwen3_kv_blocks_used"] == 0 and m["qwen3_sequences_waiting"] == 0)(server.metrics()),
               30, "the KV pool to empty after the load")
    m = server.metrics()
    rss_after = server.rss_kib()
    ok, cancelled, errors = (m['qwen3_requests_total{outcome="%s"}' % o] for o in ("ok", "cancelled", "error"))
    print(f"load: 320 requests by 32 clients in {elapsed:.1f} s, 0 failed; requests ok {ok:.0f}, cancelled {cancelled:.0f}, errors {errors:.0f}; "
          f"KV blocks used {m['qwen3_kv_blocks_used']:.0f} of {m['qwen3_kv_blocks_total']:.0f}; RSS {rss_before} KiB before, {rss_after} KiB after")
    check(m['qwen3_requests_total{outcome="error"}'] == 0, "error responses under load")
    if os.environ.get("QWEN3_SERVE_SANITIZED") == "1":
        print("load: RSS not compared (an ASan build keeps freed memory in its quarantine); the ordinary build compares it")
    else:
        check(rss_after <= rss_before * 1.02 + 4096, f"RSS grew from {rss_before} KiB to {rss_after} KiB")
    rc, log = server.stop()
    check(rc == 0, "exit status " + str(rc) + "\n" + log)


def check_idle_ranks_sleep(server):
    """With nothing to do, the follower ranks wait for rank 0's orders asleep: under a quarter of a core
    each over two seconds (spinning in MPI_Bcast, as before, took a whole one)."""
    ticks = os.sysconf("SC_CLK_TCK")
    ranks = subprocess.run(["pgrep", "-f", "-P", str(server.proc.pid), "qwen3_mpi"], capture_output=True, text=True).stdout.split()
    check(len(ranks) == 3, f"expected 3 qwen3_mpi ranks under the launcher, found {ranks}")

    def cpu(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    before = {p: cpu(p) for p in ranks}
    time.sleep(2)
    used = sorted(cpu(p) - before[p] for p in ranks)
    check(used[-1] < 0.5, f"idle ranks used {used} s of CPU in 2 s")


def run_mpi():
    references = {p: generate_alone(p, 24) for p in PROMPTS[:2]}
    shared = {SHARED_PREFIX + p: generate_alone(SHARED_PREFIX + p, 24) for p in PROMPTS[2:4]}
    # All three ranks split the KV sequence: each holds its own share of every cached prefix.
    server = Server(BINARY, MODEL, ["-c", "1024", "--sp", "3", "--tp", "1"], launcher=LAUNCHER + ["-n", "3"], api_key=KEY)
    check(any("ranks 3" in line for line in server.lines), "the load line names no 3 ranks:\n" + "\n".join(server.lines))
    check_idle_ranks_sleep(server)
    check_greedy_text(server, references)
    check_shared_prefix(server, shared)
    check_curl(server, PROMPTS[0], references[PROMPTS[0]])
    check_hang_up_frees_blocks(server)
    rc, log = server.stop()
    check(rc == 0, "exit status " + str(rc) + "\n" + log)


if __name__ == "__main__":
    {"api": run_api, "queue": run_queue, "load": run_load, "mpi": run_mpi}[GROUP]()
    print(f"serve {GROUP}: passed")
