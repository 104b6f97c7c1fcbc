#!/usr/bin/env python3
"""Make the tiny Qwen3 mixture-of-experts (qwen3_moe) test fixtures, refereed by Hugging Face transformers.

Writes, under OUT (normally tests/data/models):

  - tiny-moe           hidden 64, 8 q heads / 2 kv heads, head_dim 64, 3 layers, vocab 400,
                       rope_theta 1e6, max_position_embeddings 512, untied lm_head, float32;
                       num_experts 8, num_experts_per_tok 2, moe_intermediate_size 32,
                       decoder_sparse_step 1, mlp_only_layers [1] (layer 1 is a dense Qwen3MoeMLP with
                       intermediate_size 128; layers 0 and 2 are sparse), norm_topk_prob true.
  - tiny-moe-unnormed  the same but 2 layers, mlp_only_layers [] (both layers sparse),
                       norm_topk_prob false, another weight seed.

Each directory holds what Qwen3MoeForCausalLM.save_pretrained writes (config.json with model_type
"qwen3_moe" and architectures ["Qwen3MoeForCausalLM"], one model.safetensors), plus tokenizer.json,
tokenizer_config.json and generation_config.json byte-identical to tests/data/models/tiny-gqa4's
(written by scripts/make_fixtures.py, which must have run first), and a reference.safetensors.

Weights follow make_fixtures.py's conventions: transformers' own init with initializer_range 0.1
(every Linear, the router mlp.gate and all experts included, ~ N(0, 0.1)), then every RMSNorm weight
replaced by 1 + 0.1*N(0,1); float32.

Tensors per sparse layer N (E = 0..num_experts-1), besides the usual attention and norm tensors:
    model.layers.N.mlp.gate.weight                  [num_experts, hidden]            (router, no bias)
    model.layers.N.mlp.experts.E.gate_proj.weight   [moe_intermediate_size, hidden]
    model.layers.N.mlp.experts.E.up_proj.weight     [moe_intermediate_size, hidden]
    model.layers.N.mlp.experts.E.down_proj.weight   [hidden, moe_intermediate_size]
and per dense layer the dense Qwen3 names model.layers.N.mlp.{gate,up,down}_proj.weight
([intermediate_size, hidden], [intermediate_size, hidden], [hidden, intermediate_size]).

reference.safetensors: exactly what make_fixtures.compute_reference writes (run on
Qwen3MoeForCausalLM, eager attention, float32, loaded back from the written checkpoint, with all of
its self-checks: cached vs no-cache logits, generate vs the manual greedy loop,
hidden_states[-1] == norm(last_layer_output), greedy margins; see make_fixtures.py's docstring):
    prompt_ids int32 [T], prefill_logits f32 [T, V], hidden_states f32 [L+1, T, H],
    last_layer_output f32 [T, H], greedy_ids int32 [8], greedy_logits f32 [8, V]
plus
    router_topk_ids int32 [n_sparse_layers, T, top_k]   for the prompt, the experts each token chose
                                                         in each sparse layer (ascending layer order),
                                                         in torch.topk order (descending probability)
and metadata "referee", "sparse_layers" (e.g. "0,2"), "num_experts", "num_experts_per_tok",
"norm_topk_prob", "router_min_gap" and "router_note".  Same prompt as tiny-gqa4 (74 tokens).

Extra checks: an independent per-token transliteration of Qwen3MoeSparseMoeBlock (softmax over all
experts in float32, top-k, optional renormalisation, sum of weight * SwiGLU expert in ascending expert
order) matches every sparse block's output on the prompt; the gate-hook router choices equal the
model's own output_router_logits; flipping norm_topk_prob moves the prefill logits by > 1e-2; every
expert is chosen at least once over the prompt in every sparse layer; and over the prompt and the
greedy continuation (every token any forward routes) the gap between the top_k-th and (top_k+1)-th
router logit is > ROUTER_MIN_GAP everywhere, so a runtime whose float sums round differently still
picks the same experts.

Deterministic (one CPU thread, fixed seeds, make_fixtures' byte-stable safetensors writer):
re-running writes byte-identical files.

Run:  /work/venv/bin/python scripts/make_moe_fixtures.py --out tests/data/models
(same packages as make_fixtures.py: scripts/requirements-fixtures.txt).
"""

import argparse
import json
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

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM  # noqa: E402
from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeMLP, Qwen3MoeSparseMoeBlock  # noqa: E402

import make_fixtures as mf  # noqa: E402  (scripts/make_fixtures.py)

REGENERATE = "python scripts/make_moe_fixtures.py --out tests/data/models"
REFEREE = "transformers 4.57.6 Qwen3MoeForCausalLM, eager, fp32"
TOKENIZER_SOURCE = "tiny-gqa4"  # tokenizer / generation config copied from this make_fixtures.py model
ROUTER_MIN_GAP = 1e-3  # min (top_k-th - (top_k+1)-th) router logit over every routed token

# Qwen3MoeConfig fields shared by both fixtures (make_fixtures.BASE minus Qwen3-only max_window_layers).
BASE_MOE = dict(
    rms_norm_eps=1e-6,
    max_position_embeddings=512,
    vocab_size=mf.CONFIG_VOCAB_SIZE,
    initializer_range=0.1,
    hidden_act="silu",
    attention_bias=False,
    attention_dropout=0.0,
    use_sliding_window=False,
    sliding_window=None,
    rope_scaling=None,
    use_cache=True,
    hidden_size=64,
    num_attention_heads=8,
    num_key_value_heads=2,
    head_dim=64,  # not a Qwen3MoeConfig argument: kept as an extra attribute, read by the attention
    intermediate_size=128,  # dense (mlp_only_layers) layers
    rope_theta=1000000,
    tie_word_embeddings=False,
    num_experts=8,
    num_experts_per_tok=2,
    moe_intermediate_size=32,
    decoder_sparse_step=1,
    output_router_logits=False,
    router_aux_loss_coef=0.001,
)
# name -> (architecture, weight seed).  Seeds picked by a scan of a few thousand: every expert is used
# over the prompt in every sparse layer, the routing has no near-ties (gap > 4e-3), the greedy top1-top2
# margin is > 4e-2 and the 8 greedy ids hold 6 distinct ones (random MoE models this small fall into
# repeat loops; none of the seeds scanned gave 8 distinct ids).
MODELS = {
    "tiny-moe": (dict(BASE_MOE, num_hidden_layers=3, mlp_only_layers=[1], norm_topk_prob=True), 1813),
    "tiny-moe-unnormed": (dict(BASE_MOE, num_hidden_layers=2, mlp_only_layers=[], norm_topk_prob=False), 524),
}


def log(*a):
    print(*a, flush=True)


def read_all(path: Path):
    with safe_open(str(path), framework="pt") as sf:
        return {k: sf.get_tensor(k).clone() for k in sf.keys()}, (sf.metadata() or {})  # no mmap aliasing


def sparse_layers(cfg) -> list:
    """transformers' rule (Qwen3MoeDecoderLayer.__init__)."""
    return [
        i
        for i in range(cfg.num_hidden_layers)
        if i not in cfg.mlp_only_layers and cfg.num_experts > 0 and (i + 1) % cfg.decoder_sparse_step == 0
    ]


def build_moe_model(arch: dict, seed: int, tok_json: dict) -> Qwen3MoeForCausalLM:
    """make_fixtures.build_model for Qwen3MoeForCausalLM."""
    cfg = Qwen3MoeConfig(
        **arch,
        bos_token_id=mf.token_id(tok_json, "<|endoftext|>"),
        eos_token_id=mf.token_id(tok_json, "<|im_end|>"),
        torch_dtype="float32",
    )
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = Qwen3MoeForCausalLM(cfg).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
    sparse = sparse_layers(cfg)
    for i, layer in enumerate(model.model.layers):
        assert isinstance(layer.mlp, Qwen3MoeSparseMoeBlock if i in sparse else Qwen3MoeMLP), (i, type(layer.mlp))
    assert sparse, "no sparse layer"
    return model


def moe_block_reference(block, x: torch.Tensor) -> torch.Tensor:
    """Qwen3MoeSparseMoeBlock.forward, one token at a time: softmax over ALL experts in float32,
    top_k, (renormalise), cast to x's dtype, out = sum over chosen experts in ASCENDING expert id of
    weight * down(silu(gate(x)) * up(x)), accumulated from 0 in x's dtype."""
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        logits = x[t] @ block.gate.weight.T
        p = F.softmax(logits, dim=-1, dtype=torch.float32)
        w, e = torch.topk(p, block.top_k)
        if block.norm_topk_prob:
            w = w / w.sum()
        w = w.to(x.dtype)
        for j in sorted(range(block.top_k), key=lambda j: int(e[j])):
            ex = block.experts[int(e[j])]
            y = ex.down_proj.weight @ (F.silu(ex.gate_proj.weight @ x[t]) * (ex.up_proj.weight @ x[t]))
            out[t] = out[t] + y * w[j]
    return out


@torch.no_grad()
def routing(ref, ids: list):
    """Run ref over ids (no cache); per sparse layer: router logits [T, E], the block's input and output."""
    sparse = sparse_layers(ref.config)
    cap, hooks = {}, []
    for i in sparse:
        blk = ref.model.layers[i].mlp
        hooks.append(blk.gate.register_forward_hook(lambda m, a, o, i=i: cap.__setitem__(("logits", i), o.detach().clone())))
        hooks.append(blk.register_forward_hook(
            lambda m, a, o, i=i: cap.update({("in", i): a[0].detach().clone(), ("out", i): o[0].detach().clone()})))
    out = ref(input_ids=torch.tensor([ids]), use_cache=False, output_router_logits=True)
    for h in hooks:
        h.remove()
    assert len(out.router_logits) == len(sparse)
    for n, i in enumerate(sparse):
        assert torch.equal(out.router_logits[n], cap[("logits", i)]), i
    return sparse, cap


@torch.no_grad()
def check_routing(name, out_dir: Path, ref_tensors: dict):
    ref = Qwen3MoeForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").eval()
    cfg = ref.config
    E, K = cfg.num_experts, cfg.num_experts_per_tok
    prompt = ref_tensors["prompt_ids"].tolist()
    T = len(prompt)
    sparse, cap = routing(ref, prompt)

    topk_ids, counts = [], []
    for i in sparse:
        logits = cap[("logits", i)]
        assert logits.shape == (T, E) and logits.dtype == torch.float32
        probs = F.softmax(logits, dim=-1, dtype=torch.float32)
        w, e = torch.topk(probs, K, dim=-1)
        # topk of the probabilities == topk of the logits (softmax is monotone; no ties here).
        assert torch.equal(e, torch.topk(logits, K, dim=-1).indices), i
        topk_ids.append(e.to(torch.int32))
        c = torch.bincount(e.flatten(), minlength=E)
        counts.append(c.tolist())
        log(f"  {name}: layer {i} expert usage over the prompt ({T} tokens x top {K}): {c.tolist()}")
        assert (c > 0).all(), f"{name}: layer {i}: an expert is never chosen: {c.tolist()}"
        # The independent transliteration of the block.
        blk = ref.model.layers[i].mlp
        x = cap[("in", i)].reshape(-1, cfg.hidden_size)
        mine = moe_block_reference(blk, x)
        d = (mine - cap[("out", i)].reshape(-1, cfg.hidden_size)).abs().max().item()
        assert d <= 1e-5, f"{name}: layer {i}: per-token MoE block differs from transformers' by {d}"
        log(f"  {name}: layer {i}: per-token transliteration vs Qwen3MoeSparseMoeBlock max|d| = {d:.2e}")
    router_topk_ids = torch.stack(topk_ids).contiguous()

    # No near-ties at the top_k boundary for any token any forward routes (prompt + greedy tokens).
    full = prompt + ref_tensors["greedy_ids"].tolist()[:-1]
    _, cap_full = routing(ref, full)
    gap = min(
        (lambda s: (s[:, K - 1] - s[:, K]).min().item())(cap_full[("logits", i)].sort(dim=-1, descending=True).values)
        for i in sparse
    )
    for n, i in enumerate(sparse):
        assert torch.equal(torch.topk(cap_full[("logits", i)][:T], K, dim=-1).indices.to(torch.int32), router_topk_ids[n])
    # norm_topk_prob must be visible in the logits (else the flag is untested).
    flipped = Qwen3MoeForCausalLM.from_pretrained(
        out_dir, dtype=torch.float32, attn_implementation="eager", norm_topk_prob=not cfg.norm_topk_prob
    ).eval()
    d_flip = (flipped(input_ids=torch.tensor([prompt]), use_cache=False).logits[0] - ref_tensors["prefill_logits"]).abs().max().item()
    log(f"  {name}: max|prefill logits with norm_topk_prob={not cfg.norm_topk_prob} - reference| = {d_flip:.3e}")
    assert d_flip > 1e-2, f"{name}: norm_topk_prob makes no visible difference ({d_flip})"
    log(f"  {name}: sparse layers {sparse}; min router logit gap (top{K} vs top{K + 1}) over {len(full)} tokens = {gap:.3e}")
    assert gap > ROUTER_MIN_GAP, f"{name}: near-tie in the routing ({gap})"
    return sparse, router_topk_ids, counts, gap


def make_fixture(out: Path, name: str, arch: dict, seed: int):
    src = out / TOKENIZER_SOURCE
    tok_json = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    _, src_meta = read_all(src / "reference.safetensors")
    prompt = src_meta["prompt"]

    out_dir = out / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    model = build_moe_model(arch, seed, tok_json)
    mf.check_norms_randomised(model)
    mf.save_checkpoint(model, out_dir, torch.float32, None, tok_json)
    for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        assert (out_dir / f).read_bytes() == (src / f).read_bytes(), f"{f} differs from {TOKENIZER_SOURCE}'s"
    cfg_json = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    assert cfg_json["model_type"] == "qwen3_moe" and cfg_json["architectures"] == ["Qwen3MoeForCausalLM"], cfg_json
    for k, v in arch.items():
        assert cfg_json[k] == v, (k, cfg_json.get(k), v)
    tensors = mf.check_checkpoint(name, model, out_dir, torch.float32, None)

    # make_fixtures.compute_reference, on the MoE class.
    saved = mf.REGENERATE, mf.Qwen3ForCausalLM
    mf.REGENERATE, mf.Qwen3ForCausalLM = REGENERATE, Qwen3MoeForCausalLM
    try:
        mf.compute_reference(name, out_dir, tensors, prompt, tok_json)
    finally:
        mf.REGENERATE, mf.Qwen3ForCausalLM = saved
    ref, meta = read_all(out_dir / "reference.safetensors")
    assert meta["regenerate"] == REGENERATE and meta["model"] == name and meta["prompt"] == prompt

    src_ref, _ = read_all(src / "reference.safetensors")
    assert torch.equal(ref["prompt_ids"], src_ref["prompt_ids"])
    assert len(set(ref["greedy_ids"].tolist())) >= 6, f"{name}: greedy ids repeat a lot: {ref['greedy_ids'].tolist()}"

    sparse, router_topk_ids, counts, gap = check_routing(name, out_dir, ref)
    ref["router_topk_ids"] = router_topk_ids
    meta = dict(meta)
    meta["referee"] = REFEREE
    meta["sparse_layers"] = ",".join(str(i) for i in sparse)
    meta["num_experts"] = str(arch["num_experts"])
    meta["num_experts_per_tok"] = str(arch["num_experts_per_tok"])
    meta["norm_topk_prob"] = "true" if arch["norm_topk_prob"] else "false"
    meta["router_min_gap"] = f"{gap:.3e}"
    meta["router_note"] = (
        "router_topk_ids[s, t, j] = the j-th expert (torch.topk order: descending probability) chosen by "
        "prompt token t in the s-th sparse layer (sparse_layers lists them); router_min_gap = the smallest "
        "gap between the top_k-th and (top_k+1)-th router logit over the prompt and the greedy tokens"
    )
    mf.write_safetensors(out_dir / "reference.safetensors", ref, meta)
    back, back_meta = read_all(out_dir / "reference.safetensors")
    assert back_meta == meta and all(torch.equal(back[k], v) for k, v in ref.items())

    sd = tensors
    for i in range(arch["num_hidden_layers"]):
        ks = sorted(k for k in sd if k.startswith(f"model.layers.{i}.mlp.") and ".experts." not in k)
        ex = sorted(k for k in sd if k.startswith(f"model.layers.{i}.mlp.experts.0."))
        n_ex = len({k.split(".")[5] for k in sd if k.startswith(f"model.layers.{i}.mlp.experts.")})
        desc = ", ".join(f"{k.split('.mlp.')[1]} {list(sd[k].shape)}" for k in ks + ex)
        log(f"    layer {i} ({'sparse' if i in sparse else 'dense'}{f', {n_ex} experts' if n_ex else ''}): {desc}")
    log(f"  {name}: greedy_ids = {ref['greedy_ids'].tolist()}; router_topk_ids {list(router_topk_ids.shape)}")
    for f in out_dir.iterdir():
        f.chmod(0o644)  # save_pretrained's safetensors file comes out 0600
    size = sum(f.stat().st_size for f in out_dir.iterdir())
    log(f"  {name}: {size / 1e6:.2f} MB in {sorted(f.name for f in out_dir.iterdir())}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory (tests/data/models)")
    ap.add_argument("--only", action="append", default=None, metavar="NAME", choices=sorted(MODELS),
                    help="(re)write only this model directory (repeatable)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    transformers.logging.set_verbosity_error()
    log(f"python {sys.version.split()[0]} torch {torch.__version__} transformers {transformers.__version__}")
    for name, (arch, seed) in MODELS.items():
        if not args.only or name in args.only:
            make_fixture(args.out, name, arch, seed)


if __name__ == "__main__":
    main()
