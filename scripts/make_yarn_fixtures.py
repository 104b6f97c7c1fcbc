#!/usr/bin/env python3
"""Make the YaRN (rope_scaling) test fixture, refereed by Hugging Face transformers.

Writes OUT/tiny-gqa4-yarn (OUT normally tests/data/models):

* tiny-gqa4's architecture (hidden 64, 8 q heads / 2 kv heads, head_dim 64, 2 layers, MLP 128,
  vocab 400, rope_theta 1e6, untied lm_head, float32, one model.safetensors) with its own weight
  seed (SEED), max_position_embeddings 512 and
      "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128}
  (factor == max_position_embeddings / original_max_position_embeddings, so transformers' validator
  is silent; note that transformers 4.57.6 always uses the explicit "factor" in YaRN, it only WARNS
  when the ratio differs).  No beta_fast / beta_slow / attention_factor / mscale / truncate keys:
  the defaults (32, 1, 0.1*ln(factor)+1, -, true) apply.
* The same tokenizer, tokenizer_config.json and generation_config.json as every make_fixtures.py
  model (the tokenizer is retrained deterministically from the committed corpus excerpt).
* reference.safetensors written by make_fixtures.compute_reference itself (so all of its self-checks
  run: cached vs no-cache logits, generate vs manual loop, hidden_states[-1] == norm(last_layer_output),
  greedy margins): prompt_ids, prefill_logits [T, V], hidden_states [L+1, T, H], last_layer_output,
  greedy_ids [8], greedy_logits [8, V]; see make_fixtures.py's docstring for the exact meaning.
  The prompt is PROMPT_T tokens of the corpus excerpt from character PROMPT_CORPUS_OFFSET on, cut
  at a token boundary that survives decode -> encode, so positions run to PROMPT_T + 6, far past
  original_max_position_embeddings (128).  The metadata adds "referee", "rope_scaling" (JSON),
  "yarn_attention_factor", "yarn_inv_freq_f32_hex" (transformers' float32 inv_freq buffer) and
  "no_yarn_max_abs_logit_diff".

Checks: the loaded model's rotary embedding is YaRN with the expected inv_freq (bit-equal to an
independent float32 transliteration of transformers' formula, below) and attention_scaling; its cos/sin
are float32(cos(angle)) * float32(attention_factor); and the prefill logits with rope_scaling removed
(plain RoPE, same weights) differ from the YaRN ones by clearly more than 1e-3.

Deterministic (one CPU thread, fixed seeds, make_fixtures' byte-stable safetensors writer): re-running
writes byte-identical files.

Run:  /work/venv/bin/python scripts/make_yarn_fixtures.py --out tests/data/models
(same packages as make_fixtures.py: scripts/requirements-fixtures.txt).
"""

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path

# One CPU thread, no GPU: results must not depend on the machine.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import AutoTokenizer, Qwen3ForCausalLM  # noqa: E402

import make_fixtures as mf  # noqa: E402  (scripts/make_fixtures.py)

REGENERATE = "python scripts/make_yarn_fixtures.py --out tests/data/models"
REFEREE = "transformers 4.57.6 Qwen3ForCausalLM, eager, fp32"

NAME = "tiny-gqa4-yarn"
SEED = 8  # weight seed (tiny-gqa4 uses 6); gives distinct greedy ids with a clear top1-top2 margin
ROPE_SCALING = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128}
ARCH = dict(mf.GQA4, max_position_embeddings=512, rope_scaling=ROPE_SCALING)
PROMPT_T = 400  # prompt tokens (at most; cut back to a boundary that round-trips)
PROMPT_CORPUS_OFFSET = mf.LONG_CORPUS_OFFSET  # the prompt starts at this character of the corpus excerpt


def log(*a):
    print(*a, flush=True)


def read_all(path: Path):
    with safe_open(str(path), framework="pt") as sf:
        return {k: sf.get_tensor(k).clone() for k in sf.keys()}, (sf.metadata() or {})  # no mmap aliasing


def yarn_prompt(hf_tok, corpus: Path) -> str:
    """PROMPT_T (or slightly fewer) corpus tokens as text that encodes back to exactly those ids."""
    text = corpus.read_text(encoding="utf-8")[PROMPT_CORPUS_OFFSET : PROMPT_CORPUS_OFFSET + 8 * PROMPT_T]
    ids = hf_tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > PROMPT_T, len(ids)
    for n in range(PROMPT_T, PROMPT_T - 50, -1):
        prompt = hf_tok.decode(ids[:n])
        if hf_tok(prompt, add_special_tokens=False)["input_ids"] == ids[:n]:
            return prompt
    raise AssertionError("no prompt cut that round-trips")


def yarn_reference_f32(cfg) -> tuple:
    """transformers 4.57.6 _compute_yarn_parameters transliterated to numpy float32 scalar steps
    (python float64 where transformers uses python floats), as a C++ port would do it."""
    rs = cfg.rope_scaling
    f32 = np.float32
    base = cfg.rope_theta
    dim = int(cfg.head_dim * 1.0)
    factor = rs["factor"]
    orig = rs.get("original_max_position_embeddings") or cfg.max_position_embeddings
    beta_fast = rs.get("beta_fast") or 32
    beta_slow = rs.get("beta_slow") or 1
    attention_factor = rs.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1 else 0.1 * math.log(factor) + 1.0

    def corr_dim(rot):
        return (dim * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base))

    low, high = corr_dim(beta_fast), corr_dim(beta_slow)
    if rs.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    inv = np.empty(dim // 2, dtype=np.float32)
    for i in range(dim // 2):
        expo = f32(f32(2 * i) / f32(dim))
        # float32(base ** expo) computed in float64 then rounded (numpy's float32 power is not
        # correctly rounded; torch's float32 pow gave the correctly rounded value for all 32 here).
        pos = f32(math.pow(float(f32(base)), float(expo)))
        extrap = f32(f32(1.0) / pos)
        interp = f32(f32(1.0) / f32(f32(factor) * pos))
        ramp = f32(f32(f32(i) - f32(low)) / f32(high - low))
        ramp = min(max(ramp, f32(0.0)), f32(1.0))
        ef = f32(f32(1.0) - ramp)  # inv_freq_extrapolation_factor
        inv[i] = f32(f32(interp * f32(f32(1.0) - ef)) + f32(extrap * ef))
    return inv, attention_factor, (low, high)


@torch.no_grad()
def check_yarn_applied(out_dir: Path, ref_tensors: dict):
    ref = Qwen3ForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").eval()
    rotary = ref.model.rotary_emb
    assert rotary.rope_type == "yarn", rotary.rope_type
    inv_np, af, (low, high) = yarn_reference_f32(ref.config)
    inv = rotary.inv_freq
    assert inv.dtype == torch.float32 and inv.shape == (ARCH["head_dim"] // 2,)
    assert np.array_equal(inv.numpy().view(np.uint32), inv_np.view(np.uint32)), (inv, inv_np)
    assert rotary.attention_scaling == af, (rotary.attention_scaling, af)
    factor = ROPE_SCALING["factor"]
    assert factor == ARCH["max_position_embeddings"] / ROPE_SCALING["original_max_position_embeddings"]

    # cos/sin = float32(cos(float32(pos * inv_freq))) * float32(attention_factor), duplicated halves.
    T = int(ref_tensors["prompt_ids"].numel())
    pos = torch.arange(T + 8)[None]
    x = torch.zeros(1, dtype=torch.float32)
    cos, sin = rotary(x, pos)
    ang = pos[0].float()[:, None] * inv[None, :]
    ang = torch.cat((ang, ang), -1)
    af32 = torch.tensor(af, dtype=torch.float32)
    assert torch.equal(cos[0], ang.cos() * af32) and torch.equal(sin[0], ang.sin() * af32)

    # The same weights with plain RoPE must give clearly different logits.
    ids = ref_tensors["prompt_ids"].long()[None]
    yarn_logits = ref(input_ids=ids, use_cache=False).logits[0].float()
    assert torch.equal(yarn_logits, ref_tensors["prefill_logits"])
    plain = Qwen3ForCausalLM.from_pretrained(
        out_dir, dtype=torch.float32, attn_implementation="eager", rope_scaling=None
    ).eval()
    assert plain.config.rope_scaling is None and plain.model.rotary_emb.rope_type == "default"
    assert plain.model.rotary_emb.attention_scaling == 1.0
    plain_logits = plain(input_ids=ids, use_cache=False).logits[0].float()
    d = (plain_logits - yarn_logits).abs()
    diff, diff128 = d.max().item(), d[:128].max().item()
    log(f"  {NAME}: max|logits(YaRN) - logits(no rope_scaling)| = {diff:.4e} "
        f"(positions < 128: {diff128:.4e}; logits absmax {yarn_logits.abs().max().item():.3f})")
    assert diff > 1e-3, f"YaRN made no visible difference ({diff})"
    return inv, af, (low, high), diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory (tests/data/models)")
    ap.add_argument("--corpus", type=Path, default=mf.DEFAULT_CORPUS, help="tokenizer training text")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    transformers.logging.set_verbosity_error()
    log(f"python {sys.version.split()[0]} torch {torch.__version__} transformers {transformers.__version__}")

    tok_json = mf.train_tokenizer(args.corpus)
    out_dir = args.out / NAME
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    model = mf.build_model(ARCH, SEED, tok_json)
    mf.check_norms_randomised(model)
    assert model.config.rope_scaling == ROPE_SCALING, model.config.rope_scaling
    mf.save_checkpoint(model, out_dir, torch.float32, None, tok_json)
    cfg_json = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    assert cfg_json["rope_scaling"] == ROPE_SCALING and cfg_json["max_position_embeddings"] == 512, cfg_json
    tensors = mf.check_checkpoint(NAME, model, out_dir, torch.float32, None)

    prompt = yarn_prompt(AutoTokenizer.from_pretrained(out_dir), args.corpus)
    saved = mf.REGENERATE
    mf.REGENERATE = REGENERATE
    try:
        mf.compute_reference(NAME, out_dir, tensors, prompt, tok_json)
    finally:
        mf.REGENERATE = saved
    ref, meta = read_all(out_dir / "reference.safetensors")
    assert meta["regenerate"] == REGENERATE and meta["model"] == NAME and meta["prompt"] == prompt
    T = ref["prompt_ids"].numel()
    assert T > 3 * ROPE_SCALING["original_max_position_embeddings"], T

    inv, af, (low, high), diff = check_yarn_applied(out_dir, ref)
    meta = dict(meta)
    meta["referee"] = REFEREE
    meta["rope_scaling"] = json.dumps(ROPE_SCALING, sort_keys=True)
    meta["yarn_attention_factor"] = repr(af)
    meta["yarn_correction_range"] = f"[{low}, {high}]"
    meta["yarn_inv_freq_f32_hex"] = " ".join(f"{v:08x}" for v in inv.numpy().view(np.uint32).tolist())
    meta["no_yarn_max_abs_logit_diff"] = f"{diff:.3e}"
    mf.write_safetensors(out_dir / "reference.safetensors", ref, meta)
    back, back_meta = read_all(out_dir / "reference.safetensors")
    assert back_meta == meta, {k: (meta.get(k), back_meta.get(k)) for k in set(meta) | set(back_meta) if meta.get(k) != back_meta.get(k)}
    assert all(torch.equal(back[k], v) for k, v in ref.items()), [k for k, v in ref.items() if not torch.equal(back[k], v)]

    log(f"  {NAME}: T={T}, effective factor {ROPE_SCALING['factor']} "
        f"(= {ARCH['max_position_embeddings']}/{ROPE_SCALING['original_max_position_embeddings']}), "
        f"attention_factor {af!r}, correction range [{low}, {high}]")
    log(f"  {NAME}: inv_freq[:4] = {['%.9g' % v for v in inv[:4].tolist()]}, "
        f"inv_freq[-4:] = {['%.9g' % v for v in inv[-4:].tolist()]}")
    log(f"  {NAME}: greedy_ids = {ref['greedy_ids'].tolist()}")
    for f in out_dir.iterdir():
        f.chmod(0o644)  # save_pretrained's safetensors file comes out 0600
    size = sum(f.stat().st_size for f in out_dir.iterdir())
    log(f"  {NAME}: {size / 1e6:.2f} MB in {sorted(f.name for f in out_dir.iterdir())}")


if __name__ == "__main__":
    main()
