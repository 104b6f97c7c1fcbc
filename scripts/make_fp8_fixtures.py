#!/usr/bin/env python3
"""Convert Qwen3 checkpoints to Qwen's published FP8 layout, and make the FP8 test fixtures.

The layout is the one of Qwen/Qwen3-*-FP8 on the Hugging Face Hub (fine-grained, DeepSeek-style
block FP8; seen e.g. in the tensor listing of Qwen3-8B-FP8 and Qwen3-30B-A3B-Thinking-2507-FP8):

* config.json gains
      "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3",
                              "quant_method": "fp8", "weight_block_size": [128, 128]}
  (dense Qwen3 has nothing more; Qwen3-MoE also lists "modules_to_not_convert": lm_head and every
  layer's input_layernorm, mlp.gate (the router) and post_attention_layernorm, and so does this
  script for model_type qwen3_moe).  Everything else in config.json, "dtype" included, is kept.
* Every linear weight of the decoder layers -- self_attn.{q,k,v,o}_proj.weight,
  mlp.{gate,up,down}_proj.weight (MoE: mlp.experts.N.{gate,up,down}_proj.weight,
  mlp.shared_expert.*) -- is stored as safetensors F8_E4M3 (torch.float8_e4m3fn), same shape
  [out, in], with a sibling <module>.weight_scale_inv of shape [ceil(out/128), ceil(in/128)] in
  BF16 (as Qwen's Qwen3 FP8 releases; --scale-dtype f32 gives DeepSeek-V3's F32 instead).  The real
  weight is W[i, j] = fp8[i, j] * weight_scale_inv[i // 128, j // 128]; the last row/column of
  blocks is partial when out or in is not a multiple of 128.
* embed_tokens, lm_head, all RMSNorm weights (and an MoE router, mlp.gate) are copied unchanged.

Quantization, per 128x128 block (partial blocks: only their real elements):
    scale = amax(|W_block|) / 448                  (float32; 448 = largest float8_e4m3fn)
    weight_scale_inv = scale rounded to the scale dtype (bf16, round to nearest even)
    fp8 = clamp(W / weight_scale_inv, -448, 448) -> float8_e4m3fn (round to nearest even)
i.e. the stored scale is the one divided by, so fp8 * weight_scale_inv is the best FP8
approximation of W for that stored scale (the clamp only matters when bf16 rounds the scale down,
by < 0.4 %).  An all-zero block gets scale 1.  fp8 * scale is exact in float32 (4 + 8 significant
bits), so "the dequantized weights" are unambiguous.

Two modes:

1. --from DIR --to DIR [--block 128] [--scale-dtype bf16|f32]
   Convert a Hugging Face Qwen3 checkpoint directory (config.json, model.safetensors or shards +
   model.safetensors.index.json, tokenizer files, generation_config.json, anything else) into the
   layout above: one model.safetensors (the index is dropped), tensors stored largest element size
   first then by name (so every tensor is aligned to its element size, as safetensors' save_file
   does), config.json with quantization_config, every other file copied.  Tensors are streamed one
   at a time, so memory stays near the largest matrix.  E.g. an FP8 copy of the default model:
       python scripts/make_fp8_fixtures.py --from models/qwen3-gutenberg-11m --to /tmp/gutenberg-fp8

2. --fixtures OUT (normally tests/data/models): from the float32 fixtures OUT/tiny-gqa4 and
   OUT/tiny-mha-tied (written by scripts/make_fixtures.py) write

   - tiny-gqa4-fp8      hidden 64, head_dim 64, MLP 128: every matrix is ONE partial block
                        (q_proj 512x64 -> scales [4, 1], o_proj 64x512 -> [1, 4], k/v/gate/up/down
                        -> [1, 1]); untied lm_head (float32, unchanged).
   - tiny-mha-tied-fp8  hidden 128, head_dim 128, MLP 192: q/k/v [256, 128] -> [2, 1], o_proj
                        [128, 256] -> [1, 2], gate/up [192, 128] -> [2, 1], down [128, 192] -> [1, 2]
                        (192 = one full and one half block); tied embeddings, so no lm_head.weight;
                        the source is sharded, the FP8 copy is one model.safetensors.
   - tiny-moe-fp8       qwen3_moe (make_moe_fixtures.py's tiny-moe: 8 experts of 32, top 2, a dense
                        layer 1): every expert's gate/up [32, 64] and down [64, 32] one partial block;
                        the routers (mlp.gate) stay float32, as Qwen3-30B-A3B-FP8 keeps them; its
                        referee is Qwen3MoeForCausalLM.

   with weight_block_size [128, 128] exactly as published, BF16 scales, the non-quantized tensors
   float32 as in the source, and tokenizer.json / tokenizer_config.json / generation_config.json
   copied.  Each gets a reference.safetensors with the same keys, shapes and metadata format as
   make_fixtures.py writes (prompt_ids, prefill_logits, hidden_states, last_layer_output,
   greedy_ids, greedy_logits; see its docstring), for the same prompt as the source fixture.

   The referee: transformers' Qwen3ForCausalLM, eager attention, float32 compute, loaded from a
   temporary float32 checkpoint of the DEQUANTIZED weights (fp8 as float32 * scale as float32),
   through make_fixtures.compute_reference itself (so its self-checks run too: cached vs no-cache
   logits, generate vs manual loop, hidden_states[-1] == norm(last_layer_output)).  transformers'
   own FP8 loader (FineGrainedFP8) needs a GPU and is not used.  The metadata adds
   "referee": "transformers on dequantized fp32 weights", the source fixture and the block size.

   Checks: the stored tensors have the layout above; the F8_E4M3 bytes decode (by the bit formula,
   not torch) to the same values as torch's float8_e4m3fn; non-quantized tensors equal the source's
   bit for bit; dequantized weights are within FP8 rounding (<= 1/16 relative to the block amax) of
   the source; the prompt ids equal the source fixture's; and the FP8 reference logits differ from
   the source's float32 reference (printed: max |prefill logit diff|), so a runtime that ignored the
   scales or used the f32 weights would fail.

Everything is deterministic (one CPU thread, no randomness, a byte-stable safetensors writer):
re-running writes byte-identical files.

Run:  /work/venv/bin/python scripts/make_fp8_fixtures.py --fixtures tests/data/models
      /work/venv/bin/python scripts/make_fp8_fixtures.py --from DIR --to DIR
(same packages as make_fixtures.py: scripts/requirements-fixtures.txt; --from/--to needs only torch
and safetensors).
"""

import argparse
import json
import math
import os
import re
import shutil
import struct
import sys
import tempfile
from pathlib import Path

# One CPU thread, no GPU: results must not depend on the machine.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402

SCRIPTS = Path(__file__).resolve().parent
REGENERATE = "python scripts/make_fp8_fixtures.py --fixtures tests/data/models"
REFEREE = "transformers on dequantized fp32 weights"

FP8_DTYPE = torch.float8_e4m3fn
FP8_MAX = float(torch.finfo(FP8_DTYPE).max)  # 448
BLOCK = 128  # Qwen's weight_block_size, both dimensions
SCALE_DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32}

# The matrices Qwen quantizes: every linear layer inside a decoder layer except an MoE router.
QUANTIZED = re.compile(
    r"^model\.layers\.\d+\."
    r"(self_attn\.[qkvo]_proj|mlp\.(experts\.\d+\.|shared_expert\.)?(gate|up|down)_proj)\.weight$"
)

# safetensors dtype names.
ST_NAMES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    FP8_DTYPE: "F8_E4M3",
    torch.float8_e5m2: "F8_E5M2",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
ST_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
            "I8": 1, "U8": 1, "BOOL": 1}

# The fixtures: FP8 directory -> float32 source directory (both under --fixtures OUT).
FIXTURES = {"tiny-gqa4-fp8": "tiny-gqa4", "tiny-mha-tied-fp8": "tiny-mha-tied", "tiny-moe-fp8": "tiny-moe"}


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------------------
# Block FP8
# ---------------------------------------------------------------------------
def scale_shape(shape, block):
    return [math.ceil(shape[0] / block), math.ceil(shape[1] / block)]


def expand_scales(scale: torch.Tensor, shape, block) -> torch.Tensor:
    """[ceil(R/b), ceil(C/b)] block scales -> [R, C] float32, one per element."""
    s = scale.float().repeat_interleave(block, 0).repeat_interleave(block, 1)
    return s[: shape[0], : shape[1]]


def block_scales(w: torch.Tensor, block: int, scale_dtype) -> torch.Tensor:
    """weight_scale_inv: amax(|block|) / 448 in float32, rounded to scale_dtype."""
    w = w.float()
    R, C = w.shape
    gr, gc = scale_shape(w.shape, block)
    padded = torch.zeros(gr * block, gc * block, dtype=torch.float32)
    padded[:R, :C] = w.abs()  # zero padding never raises a partial block's amax
    amax = padded.view(gr, block, gc, block).amax(dim=(1, 3))
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    return scale.to(scale_dtype).contiguous()


def quantize(w: torch.Tensor, block: int, scale_dtype):
    """(float8_e4m3fn weight, weight_scale_inv) of a [out, in] matrix."""
    scale = block_scales(w, block, scale_dtype)
    s = expand_scales(scale, w.shape, block)
    q = (w.float() / s).clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE).contiguous()
    return q, scale


def dequantize(q: torch.Tensor, scale: torch.Tensor, block: int) -> torch.Tensor:
    """fp8 as float32 * scale as float32 (exact: 4 x 8 significant bits fit in float32)."""
    return q.float() * expand_scales(scale, q.shape, block)


def decode_e4m3_bits(raw: np.ndarray) -> np.ndarray:
    """float8_e4m3fn (OCP FP8 E4M3, 'fn': no infinities, only S.1111.111 is NaN, bias 7) decoded
    from its bits, independently of torch's cast."""
    b = raw.astype(np.int64)
    sign = np.where(b >> 7, -1.0, 1.0)
    e = (b >> 3) & 0xF
    m = (b & 0x7).astype(np.float64)
    val = np.where(e == 0, m / 8.0 * 2.0**-6, (1.0 + m / 8.0) * np.exp2(e - 7.0))
    val = np.where((e == 0xF) & (b & 0x7 == 0x7), np.nan, val)
    return (sign * val).astype(np.float32)


# ---------------------------------------------------------------------------
# safetensors, streamed and byte-stable
# ---------------------------------------------------------------------------
def tensor_bytes(t: torch.Tensor) -> bytes:
    assert sys.byteorder == "little"
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def write_safetensors_streamed(path: Path, entries, metadata: dict):
    """entries: [(name, st_dtype, shape, produce)] where produce() returns the tensor.  Stored with
    the largest element size first, then by name (every tensor aligned to its element size; the
    header is padded to 8 bytes), header keys in storage order, so the bytes never vary."""
    entries = sorted(entries, key=lambda e: (-ST_SIZES[e[1]], e[0]))
    header = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for name, dt, shape, _ in entries:
        n = ST_SIZES[dt] * math.prod(shape)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    hdr = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hdr += b" " * (-len(hdr) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)))
        f.write(hdr)
        for name, dt, shape, produce in entries:
            t = produce()
            assert ST_NAMES[t.dtype] == dt and list(t.shape) == list(shape), (name, t.dtype, t.shape, dt, shape)
            data = tensor_bytes(t)
            assert len(data) == header[name]["data_offsets"][1] - header[name]["data_offsets"][0], name
            f.write(data)


def read_all(path: Path):
    with safe_open(str(path), framework="pt") as sf:
        return {k: sf.get_tensor(k) for k in sf.keys()}, (sf.metadata() or {})


def weight_files(src: Path):
    index = src / "model.safetensors.index.json"
    if index.exists():
        wm = json.loads(index.read_text())["weight_map"]
        return sorted(set(wm.values())), index
    assert (src / "model.safetensors").exists(), f"{src}: no model.safetensors and no index"
    return ["model.safetensors"], None


def write_json(path: Path, obj):
    # transformers' own layout for config.json: indent 2, sorted keys, trailing newline
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------
def quantization_config(cfg: dict, names, block: int) -> dict:
    qc = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [block, block]}
    if cfg.get("model_type") == "qwen3_moe":
        # As Qwen3-30B-A3B(-2507)-FP8: lm_head, then per layer input_layernorm, mlp.gate, post_attention_layernorm.
        skip = ["lm_head"]
        for i in range(cfg["num_hidden_layers"]):
            skip.append(f"model.layers.{i}.input_layernorm")
            if f"model.layers.{i}.mlp.gate.weight" in names:
                skip.append(f"model.layers.{i}.mlp.gate")
            skip.append(f"model.layers.{i}.post_attention_layernorm")
        qc["modules_to_not_convert"] = skip
    return qc


def convert(src: Path, dst: Path, block: int = BLOCK, scale_dtype=torch.bfloat16):
    """Write the FP8 copy of checkpoint directory src into dst (which must not hold files)."""
    cfg = json.loads((src / "config.json").read_text())
    assert "quantization_config" not in cfg, f"{src}: already quantized ({cfg['quantization_config']})"
    assert cfg.get("model_type") in ("qwen3", "qwen3_moe"), f"{src}: model_type {cfg.get('model_type')}"
    if dst.exists():
        assert not any(dst.iterdir()), f"{dst} exists and is not empty"
    dst.mkdir(parents=True, exist_ok=True)

    files, index = weight_files(src)
    handles = {f: safe_open(str(src / f), framework="pt") for f in files}
    where = {}
    for f, h in handles.items():
        for k in h.keys():
            assert k not in where, f"{k} in {where.get(k)} and {f}"
            where[k] = f

    entries, n_quant = [], 0
    for name in sorted(where):
        h = handles[where[name]]
        sl = h.get_slice(name)
        shape, dt = list(sl.get_shape()), sl.get_dtype()
        if QUANTIZED.match(name):
            assert len(shape) == 2 and dt in ("F32", "BF16", "F16"), (name, shape, dt)
            get = lambda h=h, name=name: h.get_tensor(name)  # noqa: E731
            entries.append((name, "F8_E4M3", shape, lambda get=get: quantize(get(), block, scale_dtype)[0]))
            entries.append((name + "_scale_inv", ST_NAMES[scale_dtype], scale_shape(shape, block),
                            lambda get=get: block_scales(get(), block, scale_dtype)))
            n_quant += 1
        else:
            entries.append((name, dt, shape, lambda h=h, name=name: h.get_tensor(name)))
    assert n_quant > 0, f"{src}: no linear weights matched"
    write_safetensors_streamed(dst / "model.safetensors", entries, {"format": "pt"})

    cfg["quantization_config"] = quantization_config(cfg, set(where), block)
    write_json(dst / "config.json", cfg)

    # Every other file as it is (weights, their index and any reference outputs excluded).
    copied = []
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if p.is_dir() or rel.name == "config.json" and len(rel.parts) == 1:
            continue
        if p.name.endswith(".safetensors") or p.name.endswith(".safetensors.index.json"):
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dst / rel)
        copied.append(str(rel))
    size = (dst / "model.safetensors").stat().st_size
    log(f"  {src} -> {dst}: {n_quant} matrices to F8_E4M3 + {ST_NAMES[scale_dtype]} weight_scale_inv "
        f"(block {block}), {len(where) - n_quant} tensors unchanged; model.safetensors {size / 1e6:.2f} MB "
        f"from {len(files)} file(s); copied {copied}")
    return n_quant


def check_converted(src: Path, dst: Path, block: int, scale_dtype):
    """The FP8 copy has the published layout and its dequantized weights approximate the source's.
    Returns the dequantized float32 state (no weight_scale_inv entries)."""
    files, _ = weight_files(src)
    source = {}
    for f in files:
        source.update(read_all(src / f)[0])
    fp8, meta = read_all(dst / "model.safetensors")
    assert meta == {"format": "pt"}, meta
    assert [f.name for f in dst.glob("*.safetensors*")] == ["model.safetensors"]
    cfg = json.loads((dst / "config.json").read_text())
    qc = cfg["quantization_config"]
    assert qc["quant_method"] == "fp8" and qc["fmt"] == "e4m3" and qc["activation_scheme"] == "dynamic"
    assert qc["weight_block_size"] == [block, block], qc
    src_cfg = json.loads((src / "config.json").read_text())
    assert {k: v for k, v in cfg.items() if k != "quantization_config"} == src_cfg

    scales = {k for k in fp8 if k.endswith("_scale_inv")}
    assert set(fp8) - scales == set(source), set(fp8) ^ set(source)
    deq, worst = {}, 0.0
    for k, w in source.items():
        t = fp8[k]
        if not QUANTIZED.match(k):
            assert t.dtype == w.dtype and torch.equal(t, w), k  # bit for bit (no NaNs in weights)
            deq[k] = t.float()
            continue
        s = fp8[k + "_scale_inv"]
        assert t.dtype == FP8_DTYPE and list(t.shape) == list(w.shape), (k, t.dtype, t.shape)
        assert s.dtype == scale_dtype and list(s.shape) == scale_shape(w.shape, block), (k, s.dtype, s.shape)
        assert torch.all(s > 0)
        # The stored bytes are standard E4M3 ("fn") and never NaN.
        bits = t.view(torch.uint8).numpy()
        by_bits = torch.from_numpy(decode_e4m3_bits(bits))
        assert not torch.isnan(by_bits).any(), k
        assert torch.equal(by_bits, t.float()), k
        d = dequantize(t, s, block)
        assert torch.equal(d, by_bits * expand_scales(s, w.shape, block)), k
        # Round to nearest at 3 mantissa bits: |err| <= 2^-4 |value| (normals), <= 2^-10 * scale
        # (subnormals), measured against the block's amax (= 448 * scale up to the scale's rounding).
        err = (d - w.float()).abs() / (expand_scales(s, w.shape, block) * FP8_MAX)
        worst = max(worst, err.max().item())
        assert err.max().item() <= 2.0**-4 * 1.01, (k, err.max().item())
        # Re-quantizing the original is what is stored (the scale is not drifting).
        q2, s2 = quantize(w, block, scale_dtype)
        assert torch.equal(q2.view(torch.uint8), t.view(torch.uint8)) and torch.equal(s2, s), k
        deq[k] = d
    return deq, fp8, worst


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------
def make_fixture(out: Path, name: str, src_name: str):
    import make_fixtures as mf  # scripts/make_fixtures.py: no side effects on import beyond env defaults
    import transformers

    src, dst = out / src_name, out / name
    if dst.exists():
        shutil.rmtree(dst)
    convert(src, dst, BLOCK, torch.bfloat16)
    # Fixtures hold no README or other extras: only what make_fixtures writes (and the reference).
    for p in dst.iterdir():
        assert p.name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                          "generation_config.json"), p
    deq, fp8, worst = check_converted(src, dst, BLOCK, torch.bfloat16)

    src_ref, src_meta = read_all(src / "reference.safetensors")
    prompt = src_meta["prompt"]
    tok_json = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))

    # The referee: make_fixtures.compute_reference on a float32 checkpoint of the dequantized weights.
    with tempfile.TemporaryDirectory(prefix=name + "-dequantized-") as tmp:
        tmp = Path(tmp)
        shutil.copyfile(src / "config.json", tmp / "config.json")  # no quantization_config
        for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
            shutil.copyfile(dst / f, tmp / f)
        mf.write_safetensors(tmp / "model.safetensors", deq, {"format": "pt"})
        saved = mf.REGENERATE
        saved_class = mf.Qwen3ForCausalLM
        mf.REGENERATE = REGENERATE
        if json.loads((src / "config.json").read_text())["model_type"] == "qwen3_moe":
            mf.Qwen3ForCausalLM = transformers.Qwen3MoeForCausalLM
        try:
            mf.compute_reference(name, tmp, deq, prompt, tok_json)
        finally:
            mf.REGENERATE, mf.Qwen3ForCausalLM = saved, saved_class
        ref, meta = read_all(tmp / "reference.safetensors")
    assert meta["regenerate"] == REGENERATE and meta["model"] == name and meta["prompt"] == prompt
    meta = dict(meta)
    meta["referee"] = REFEREE
    meta["fp8_source"] = f"{src_name} (float32), quantized to F8_E4M3 with BF16 weight_scale_inv per " \
                         f"{BLOCK}x{BLOCK} block: scale = amax/448 rounded to bf16, fp8 = W/scale"
    meta["weight_block_size"] = f"[{BLOCK}, {BLOCK}]"
    mf.write_safetensors(dst / "reference.safetensors", ref, meta)
    back, back_meta = read_all(dst / "reference.safetensors")
    assert back_meta == meta and all(torch.equal(back[k], v) for k, v in ref.items())
    # (make_moe_fixtures.py's references add the router's choices, which compute_reference does not write)
    assert set(ref) == set(src_ref) - {"router_topk_ids"}, set(ref) ^ set(src_ref)
    for k in ref:
        assert ref[k].dtype == src_ref[k].dtype and ref[k].shape == src_ref[k].shape, k
    assert torch.equal(ref["prompt_ids"], src_ref["prompt_ids"])

    # The quantization must be visible in the logits.
    d_prefill = (ref["prefill_logits"] - src_ref["prefill_logits"]).abs().max().item()
    d_hidden = (ref["last_layer_output"] - src_ref["last_layer_output"]).abs().max().item()
    same_greedy = int((ref["greedy_ids"] == src_ref["greedy_ids"]).sum())
    log(f"  {name} vs {src_name}: max|prefill logit diff|={d_prefill:.3e} "
        f"(source logits absmax {src_ref['prefill_logits'].abs().max().item():.3f}), "
        f"max|last_layer_output diff|={d_hidden:.3e}, greedy ids equal {same_greedy}/{len(ref['greedy_ids'])} "
        f"({ref['greedy_ids'].tolist()} vs {src_ref['greedy_ids'].tolist()}); "
        f"worst |dequantized - source| / block amax = {worst:.4f}")
    assert d_prefill > 1e-3, f"{name}: FP8 reference indistinguishable from {src_name}'s"

    for k in ("model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.weight_scale_inv",
              "model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.weight_scale_inv",
              "model.layers.0.mlp.experts.0.down_proj.weight", "model.layers.0.mlp.experts.0.down_proj.weight_scale_inv",
              "model.layers.0.mlp.gate.weight", "model.embed_tokens.weight", "model.layers.0.input_layernorm.weight"):
        if k not in fp8:  # dense models have no experts, tiny-moe no dense MLP in layer 0
            continue
        log(f"    {k}: {ST_NAMES[fp8[k].dtype]} {list(fp8[k].shape)}")
    size = sum(f.stat().st_size for f in dst.iterdir())
    log(f"  {name}: {size / 1e6:.2f} MB in {sorted(f.name for f in dst.iterdir())}; "
        f"transformers {transformers.__version__} torch {torch.__version__}")
    return d_prefill


# ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="src", type=Path, help="Hugging Face Qwen3 checkpoint directory to convert")
    ap.add_argument("--to", dest="dst", type=Path, help="output directory for the FP8 copy (new or empty)")
    ap.add_argument("--block", type=int, default=BLOCK, help="weight_block_size, both dims (default 128, as published)")
    ap.add_argument("--scale-dtype", choices=sorted(SCALE_DTYPES), default="bf16",
                    help="dtype of weight_scale_inv (default bf16, as Qwen's Qwen3 FP8 releases)")
    ap.add_argument("--fixtures", type=Path, metavar="OUT",
                    help="write OUT/tiny-gqa4-fp8, OUT/tiny-mha-tied-fp8 and OUT/tiny-moe-fp8 (+ references) from OUT's f32 fixtures")
    ap.add_argument("--only", choices=sorted(FIXTURES), action="append",
                    help="with --fixtures: only these fixtures (default: all)")
    args = ap.parse_args()
    if bool(args.fixtures) == bool(args.src or args.dst) or bool(args.src) != bool(args.dst):
        ap.error("give either --from DIR --to DIR, or --fixtures OUT")
    if args.fixtures and (args.block != BLOCK or args.scale_dtype != "bf16"):
        ap.error("--fixtures always uses block 128 and bf16 scales, as published")

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)

    if args.src:
        scale_dtype = SCALE_DTYPES[args.scale_dtype]
        convert(args.src, args.dst, args.block, scale_dtype)
        _, _, worst = check_converted(args.src, args.dst, args.block, scale_dtype)
        log(f"  checked: layout, E4M3 bytes, untouched tensors; worst |dequantized - source| / block amax = {worst:.4f}")
        return

    sys.path.insert(0, str(SCRIPTS))
    import transformers

    transformers.logging.set_verbosity_error()
    log(f"python {sys.version.split()[0]} torch {torch.__version__} transformers {transformers.__version__}")
    diffs = {name: make_fixture(args.fixtures, name, src) for name, src in FIXTURES.items() if not args.only or name in args.only}
    log("max|prefill logit diff| vs float32 source: " + ", ".join(f"{k}={v:.3e}" for k, v in diffs.items()))


if __name__ == "__main__":
    main()
