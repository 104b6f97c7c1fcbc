#!/usr/bin/env python3
"""StreamingLLM (attention sinks + recent window) referee from Hugging Face transformers' SinkCache.

Feeds the first N tokens of a text ONE TOKEN AT A TIME through a Qwen3 checkpoint and records, for every
token t >= 1, log p(token t | tokens < t) (natural log, log_softmax in float32 over the full vocabulary):

  logprobs        transformers 4.52.4 SinkCache(window_length=S+W, num_sink_tokens=S), stock.
  logprobs_fixed  the same SinkCache with its off-by-one fixed (with window_length 6, sinks 2: key positions [0,1,1,2,3,5] at t=5 instead of 0..5): the cache grows
                  to exactly S+W tokens before its first shift, so nothing is re-rotated until a token is
                  really evicted. This is StreamingLLM's cache (budget S+W including the new token).
  full_logprobs   a plain DynamicCache (no eviction), positions 0..N-1.

For the sink caches the new token's RoPE position (position_ids) and cache_position are its index in the
cache after the update: min(t, S+W-1).  Needs transformers==4.52.4 (SinkCache was removed in 4.53):
scripts/requirements-sink.txt. The tests compare qwen3_mpi's sink-window (f32 KV) with logprobs_fixed
and full with full_logprobs (tests/engine/test_streaming_reference.cpp):

  python scripts/make_sink_fixtures.py --text shared/corpora/gutenberg/crime-and-punishment-2554.txt \
      --tokens 512 --sink 4 --window 60 --out tests/data/eval/streaming/sink4_window60.json
  (and --sink 0 --window 64 --out tests/data/eval/streaming/sink0_window64.json)
"""
import argparse
import json
import math
import sys
import time
import warnings

import numpy as np
import tokenizers
import torch
import transformers
from transformers import AutoModelForCausalLM, DynamicCache

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from transformers.cache_utils import SinkCache


class FixedSinkCache(SinkCache):
    """SinkCache.update of transformers 4.52.4 with one change: the "growing" branch takes the cache up to
    exactly window_length entries (`<=` instead of `<`). Stock SinkCache leaves the growing branch at
    window_length-1 entries and then runs the "shifting" branch, which re-rotates every non-sink key by one
    position back although nothing was evicted (keys then sit one position before their cache index until
    they are evicted)."""

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        if cache_kwargs is None:
            cache_kwargs = {}
        sin = cache_kwargs.get("sin")
        cos = cache_kwargs.get("cos")
        partial_rotation_size = cache_kwargs.get("partial_rotation_size")
        using_rope = cos is not None and sin is not None
        if layer_idx == 0:
            self._seen_tokens += key_states.shape[-2]
        if using_rope and layer_idx == 0:
            if cos.dim() == 2:
                self._cos_cache = cos
                self._sin_cache = sin
            else:
                if self._cos_cache is None:
                    self._cos_cache = cos[0, ...]
                    self._sin_cache = sin[0, ...]
                elif self._cos_cache.shape[0] < self.window_length:
                    self._cos_cache = torch.cat([self._cos_cache, cos[0, ...]], dim=0)
                    self._sin_cache = torch.cat([self._sin_cache, sin[0, ...]], dim=0)
        if len(self.key_cache) <= layer_idx:
            self.key_cache.append(key_states)
            self.value_cache.append(value_states)
        elif key_states.shape[-2] + self.get_seq_length(layer_idx) <= self.window_length:  # stock: `<`
            self.key_cache[layer_idx] = torch.cat([self.key_cache[layer_idx], key_states], dim=-2)
            self.value_cache[layer_idx] = torch.cat([self.value_cache[layer_idx], value_states], dim=-2)
        else:
            keys_to_keep = self.key_cache[layer_idx][
                :, :, -self.window_length + self.num_sink_tokens + key_states.shape[-2] :
            ]
            if using_rope:
                rerotation_cos, rerotation_sin = self._get_rerotation_cos_sin(
                    key_states, self._cos_cache[: self.window_length], self._sin_cache[: self.window_length]
                )
                if partial_rotation_size is not None:
                    keys_to_keep, keys_pass = (
                        keys_to_keep[..., :partial_rotation_size],
                        keys_to_keep[..., partial_rotation_size:],
                    )
                keys_to_keep = self._apply_key_rotary_pos_emb(keys_to_keep, rerotation_cos, rerotation_sin)
                if partial_rotation_size is not None:
                    keys_to_keep = torch.cat((keys_to_keep, keys_pass), dim=-1)
            sink_keys = self.key_cache[layer_idx][:, :, : self.num_sink_tokens]
            self.key_cache[layer_idx] = torch.cat([sink_keys, keys_to_keep, key_states], dim=-2)
            sink_values = self.value_cache[layer_idx][:, :, : self.num_sink_tokens]
            values_to_keep = self.value_cache[layer_idx][
                :, :, -self.window_length + self.num_sink_tokens + value_states.shape[-2] :
            ]
            self.value_cache[layer_idx] = torch.cat([sink_values, values_to_keep, value_states], dim=-2)
        return self.key_cache[layer_idx], self.value_cache[layer_idx]


def load_ids(model_dir, text_path, skip_chars, n):
    tok = tokenizers.Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    with open(text_path, "rb") as f:
        text = f.read().decode("utf-8")
    text = text[skip_chars:]
    ids = tok.encode(text, add_special_tokens=False).ids
    if len(ids) < n:
        sys.exit(f"text has only {len(ids)} tokens, need {n}")
    return ids[:n]


@torch.no_grad()
def run_stream(model, ids, cache, window_length=None):
    """One token per forward call. window_length=None: full cache, position t. Otherwise the token's
    position and cache_position are its index in the cache after the update, min(t, window_length-1)."""
    out = []
    for t in range(len(ids) - 1):
        pos = t if window_length is None else min(t, window_length - 1)
        res = model(
            input_ids=torch.tensor([[ids[t]]], dtype=torch.long),
            position_ids=torch.tensor([[pos]], dtype=torch.long),
            cache_position=torch.tensor([pos], dtype=torch.long),
            past_key_values=cache,
            use_cache=True,
        )
        cache = res.past_key_values
        lp = torch.log_softmax(res.logits[0, -1].float(), dim=-1)
        out.append(float(lp[ids[t + 1]]))
        if window_length is not None:
            assert cache.get_seq_length() == min(t + 1, window_length), (t, cache.get_seq_length())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/qwen3-gutenberg-11m")
    ap.add_argument("--text", required=True, help="Crime and Punishment (Project Gutenberg 2554), UTF-8")
    ap.add_argument("--skip-chars", type=int, default=20000)
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--sink", type=int, default=4)
    ap.add_argument("--window", type=int, default=60, help="recent tokens; window_length = sink + window")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-full", action="store_true", help="skip the DynamicCache pass")
    ap.add_argument("--no-fixed", action="store_true", help="skip the fixed-SinkCache pass")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    S, W = a.sink, a.window
    L = S + W
    ids = load_ids(a.model, a.text, a.skip_chars, a.tokens)
    model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()

    timings = {}
    res = {"ids": ids, "sink": S, "window": W, "window_length": L}

    def timed(name, fn):
        t0 = time.time()
        v = fn()
        timings[name] = round(time.time() - t0, 3)
        return v

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        res["logprobs"] = timed("sink", lambda: run_stream(model, ids, SinkCache(window_length=L, num_sink_tokens=S), L))
        if not a.no_fixed:
            res["logprobs_fixed"] = timed(
                "sink_fixed", lambda: run_stream(model, ids, FixedSinkCache(window_length=L, num_sink_tokens=S), L)
            )
    if not a.no_full:
        res["full_logprobs"] = timed("full", lambda: run_stream(model, ids, DynamicCache(), None))

    def nll(v):
        return -float(np.mean(v))

    summary = {k: nll(res[k]) for k in ("logprobs", "logprobs_fixed", "full_logprobs") if k in res}
    res["mean_nll"] = summary
    checks = {}
    if "full_logprobs" in res:
        full = np.array(res["full_logprobs"])
        for k in ("logprobs", "logprobs_fixed"):
            if k not in res:
                continue
            d = np.abs(np.array(res[k]) - full)  # d[i] is for token t = i + 1
            first = next((i + 1 for i in range(len(d)) if d[i] > 1e-5), None)
            checks[k] = {
                "max_abs_diff_t_le_L_minus_1": float(d[: L - 1].max()) if L > 1 else 0.0,  # t = 1 .. L-1
                "abs_diff_t_eq_L": float(d[L - 1]) if len(d) >= L else None,
                "max_abs_diff_t_gt_L": float(d[L:].max()) if len(d) > L else None,
                "first_t_diff_gt_1e-5": first,
            }
        res["checks"] = checks
    res["timings_s"] = timings
    res["versions"] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
    }
    res["command"] = " ".join(sys.argv)
    with open(a.out, "w") as f:
        json.dump(res, f)
    print(json.dumps({k: res[k] for k in ("sink", "window", "mean_nll", "timings_s", "versions")}, indent=1))
    if checks:
        print(json.dumps(checks, indent=1))


if __name__ == "__main__":
    main()
