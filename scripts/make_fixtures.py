#!/usr/bin/env python3
"""Make the tiny Qwen3 fixtures that referee qwen3_mpi's numerics.

What it writes (under --out, normally tests/data/models):

* A tiny byte-level BPE tokenizer (384 tokens) trained with Hugging Face
  ``tokenizers`` on an excerpt of *Pride and Prejudice* (Project Gutenberg
  eBook #1342, public domain in the US) kept in
  ``tests/data/models/corpus/pride-and-prejudice-1342-excerpt.txt``.  Its
  normalizer (NFC), pre-tokenizer (Split on Qwen's regex, behavior Isolated, then
  ByteLevel add_prefix_space=false use_regex=false), post-processor and
  ByteLevel decoder are copied verbatim from Qwen3's tokenizer.json (Apache-2.0),
  and so is the id layout: ids 0..255 are the 256 byte-level symbols in GPT-2's
  bytes_to_unicode order, then one id per merge, then the added tokens
  <|endoftext|>, <|im_start|>, <|im_end|> (special) and <think>, </think>
  (added but "special": false, exactly as in Qwen3).  Every byte string encodes.
* Four random-weight Qwen3ForCausalLM checkpoints in the exact Hugging Face
  layout (config.json, model.safetensors or model-0000N-of-0000M.safetensors +
  model.safetensors.index.json, generation_config.json, tokenizer.json,
  tokenizer_config.json with Qwen3's chat template):

  - tiny-gqa4       hidden 64, 8 q heads / 2 kv heads (GQA 4), head_dim 64
                    (heads*head_dim = 512 != hidden), rope_theta 1e6, untied
                    lm_head, float32, one file; prompt of > 64 tokens.
  - tiny-mha-tied   hidden 128, 2 q heads / 2 kv heads, head_dim 128,
                    rope_theta 1e4, tied embeddings (no lm_head.weight stored),
                    float32, sharded into several files with an index.
  - tiny-gqa4-bf16  tiny-gqa4's weights stored as bfloat16.
  - tiny-gqa4-f16   tiny-gqa4's weights stored as float16.

  config vocab_size is 400 > 384 tokenizer entries (as real Qwen3 pads
  151669 -> 151936).  All RMSNorm weights (input/post-attention layernorm,
  q_norm, k_norm, final norm) are 1 + 0.1*N(0,1) instead of all ones, so that a
  forgotten norm multiply is caught.  initializer_range is 0.1 (not 0.02) so that
  logits have a standard deviation of order 1 and greedy decoding does not
  collapse onto one id.
* reference.safetensors in every model directory, computed by transformers'
  Qwen3ForCausalLM loaded back *from the written checkpoint* with eager
  attention and float32 compute (the bf16/f16 checkpoints are upcast to
  float32 on load, so their references are float32 math on rounded weights):

  prompt_ids        int32   [T]           prompt, tokenizer(add_special_tokens=False)
  prefill_logits    float32 [T, V]        logits of one forward over the prompt
  hidden_states     float32 [L+1, T, H]   output_hidden_states=True: [0] is the
                                          embedding output, [i] the output of
                                          layer i-1 ... BUT the LAST entry [L] is
                                          HF's last_hidden_state, i.e. it ALREADY
                                          HAS THE FINAL RMSNorm (model.norm)
                                          APPLIED (transformers replaces it).
  last_layer_output float32 [T, H]        output of the last decoder layer
                                          before the final norm (forward hook)
  greedy_ids        int32   [8]           8 greedy tokens, KV-cached decode,
                                          never stopping at EOS
  greedy_logits     float32 [8, V]        logits that chose greedy_ids[i];
                                          row 0 == prefill_logits[-1]

  The header metadata holds format/version/regenerate/transformers/torch plus
  the model name and the prompt text.

* tiny-gqa4-long: tiny-gqa4's architecture and seed stored as bfloat16, with
  max_position_embeddings 4096, and a reference for a 3200-token prompt cut from
  the corpus (positions into the thousands, 50 KV blocks of 64).  A full [T, V]
  logits tensor would be 5 MB, so its reference.safetensors holds only
  prompt_ids, row_positions/row_logits (full rows at 23 positions, among them
  the block and power-of-two edges and the last 9), next_logprob [T-1] (the
  log-probability of the next prompt token at every position) and 8 greedy
  ids/logits past the prompt.  See compute_long_reference and the README.

The script checks itself: cached decode logits equal a full no-cache forward
over prompt+generated ids within 1e-5, model.generate agrees with the manual
loop, hidden_states[-1] == norm(last_layer_output), the tied checkpoint has no
lm_head.weight, the bf16/f16 references use exactly the rounded weights, and
the files load with AutoTokenizer / from_pretrained.  Everything is seeded and
runs on one CPU thread, so re-running writes byte-identical files.

Prompts: tiny-gqa4* use the first sentence of the novel + "\n\nMr. Bennet"
(74 tokens, so prefill crosses qwen3_mpi's 64-token KV block); tiny-mha-tied
uses "“My dear Mr. Bennet,” said his lady." (22 tokens, curly quotes).
Weight seeds are fixed (picked so that greedy decoding gives 8 distinct ids
with a top1-top2 margin > 1e-3, i.e. no near-ties).

Run:  /work/venv/bin/python scripts/make_fixtures.py --out tests/data/models
      (add --only NAME, repeatable, to rewrite only those model directories)
(versions pinned in scripts/requirements-fixtures.txt).
"""

import argparse
import copy
import json
import os
import shutil
import struct
import sys
from pathlib import Path

# One CPU thread, no GPU: results must not depend on the machine.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT / "tests/data/models/corpus/pride-and-prejudice-1342-excerpt.txt"
REGENERATE = "python scripts/make_fixtures.py --out tests/data/models"

from qwen3_tokenizer_format import (  # noqa: E402  (scripts/, on sys.path when run as a script)
    ADDED_TOKENS,
    check_renumbering,
    token_id,
    tokenizer_config,
    train_qwen3_bpe,
)

VOCAB_TOTAL = 384  # tokenizer entries: 256 bytes + merges + 5 added tokens
CONFIG_VOCAB_SIZE = 400  # > VOCAB_TOTAL, like Qwen3's padded embedding matrix
N_GREEDY = 8
KV_BLOCK = 64  # qwen3_mpi's KV block size; the gqa4 prompt must cross it
CORPUS_BYTES = 300_000
CORPUS_START = "It is a truth universally acknowledged"

# Prompts (English, encoded with add_special_tokens=False).
PROMPT_SHORT = "\u201cMy dear Mr. Bennet,\u201d said his lady."  # curly quotes: multi-byte UTF-8
PROMPT_LONG = (
    "It is a truth universally acknowledged, that a single man in possession "
    "of a good fortune must be in want of a wife.\n\nMr. Bennet"
)

BASE = dict(
    num_hidden_layers=2,
    rms_norm_eps=1e-6,
    max_position_embeddings=512,
    vocab_size=CONFIG_VOCAB_SIZE,
    initializer_range=0.1,
    hidden_act="silu",
    attention_bias=False,
    attention_dropout=0.0,
    use_sliding_window=False,
    sliding_window=None,
    max_window_layers=2,
    rope_scaling=None,
    use_cache=True,
)
GQA4 = dict(
    hidden_size=64,
    num_attention_heads=8,
    num_key_value_heads=2,
    head_dim=64,
    intermediate_size=128,
    rope_theta=1000000,
    tie_word_embeddings=False,
)
MHA_TIED = dict(
    hidden_size=128,
    num_attention_heads=2,
    num_key_value_heads=2,
    head_dim=128,
    intermediate_size=192,
    rope_theta=10000,
    tie_word_embeddings=True,
)
# name -> (architecture, weight seed, storage dtype, max_shard_size or None, prompt)
# Seeds were picked (among a handful) so that 8 greedy steps give 8 distinct ids
# instead of the repeat loops random models like to fall into.
MODELS = {
    "tiny-gqa4": (GQA4, 6, torch.float32, None, PROMPT_LONG),
    "tiny-mha-tied": (MHA_TIED, 3, torch.float32, "1MB", PROMPT_SHORT),
    "tiny-gqa4-bf16": (GQA4, 6, torch.bfloat16, None, PROMPT_LONG),
    "tiny-gqa4-f16": (GQA4, 6, torch.float16, None, PROMPT_LONG),
}


# The long-position fixture: tiny-gqa4's architecture and weight seed, stored as bfloat16 (half the
# bytes), with room for 4096 positions.  Its prompt is LONG_T tokens of the corpus, so the positions
# run into the thousands (RoPE with rope_theta 1e6 at large angles) and the KV cache holds
# LONG_T / 64 = 50 full blocks.  Only a few logit rows are stored (see compute_long_reference).
GQA4_LONG = dict(GQA4, max_position_embeddings=4096)
LONG_MODELS = {"tiny-gqa4-long": (GQA4_LONG, 6, torch.bfloat16)}
LONG_T = 3200  # prompt tokens: positions 0..3199, exactly 50 KV blocks of 64
LONG_DECODE = 8  # the test prefills LONG_T - LONG_DECODE tokens and feeds the last ones one by one
LONG_GREEDY = 8  # greedy steps after the prompt (positions LONG_T .. LONG_T + 6 are fed)
LONG_CORPUS_OFFSET = 100_000  # the prompt is the corpus text from this character on, cut at LONG_T ids
# Positions whose full logit rows are stored: the first block's edges, powers of two and their
# neighbours (block and table-size boundaries), the middle, the last prefill row of the test's split
# and every row it decodes.
LONG_ROWS = sorted(
    {0, 1, 63, 64, 65, 511, 512, 1023, 1024, 2047, 2048, 2049, 2500, 3000}
    | set(range(LONG_T - LONG_DECODE - 1, LONG_T))
)


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------
def make_corpus_excerpt(src: Path, dst: Path):
    """Cut the committed training excerpt out of a full Gutenberg text:
    whole paragraphs from the first line of Chapter I until CORPUS_BYTES."""
    text = src.read_text(encoding="utf-8")
    start = text.index(CORPUS_START)
    body = text[start:]
    out, size = [], 0
    for para in body.split("\n\n"):
        out.append(para)
        size += len(para.encode("utf-8")) + 2
        if size >= CORPUS_BYTES:
            break
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n\n".join(out) + "\n", encoding="utf-8")
    log(f"wrote corpus excerpt {dst} ({dst.stat().st_size} bytes)")


def train_tokenizer(corpus: Path) -> dict:
    """Train the byte-level BPE and return tokenizer.json as a dict in
    Qwen3's layout (ids 0..255 = bytes in GPT-2 order, merges, added tokens)."""
    text = corpus.read_text(encoding="utf-8")
    out, tok = train_qwen3_bpe([text], VOCAB_TOTAL)
    check_renumbering(out, tok, [text[:50_000], PROMPT_SHORT, PROMPT_LONG, "h\u00e9llo \u4e2d\u6587 \U0001f642 \x00\x07\t\r\n"])
    return out


def generation_config(tok_json: dict) -> dict:
    eot = token_id(tok_json, "<|endoftext|>")
    im_end = token_id(tok_json, "<|im_end|>")
    return {
        "bos_token_id": eot,
        "do_sample": True,
        "eos_token_id": [im_end, eot],
        "pad_token_id": eot,
        "temperature": 0.6,
        "top_k": 20,
        "top_p": 0.95,
        "transformers_version": transformers.__version__,
    }


def write_safetensors(path: Path, tensors: dict, metadata: dict):
    """safetensors writer with a byte-stable header.  (safetensors' own
    save_file keeps __metadata__ in a hash map, so its key order -- and the
    file bytes -- change from run to run.)  Tensors are stored in name order."""
    dtypes = {torch.float32: "F32", torch.int32: "I32"}
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hdr = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hdr += b" " * (-len(hdr) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)))
        f.write(hdr)
        for b in blobs:
            f.write(b)


def write_json(path: Path, obj):
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------
def build_model(arch: dict, seed: int, tok_json: dict) -> Qwen3ForCausalLM:
    cfg = Qwen3Config(
        **{**BASE, **arch},
        bos_token_id=token_id(tok_json, "<|endoftext|>"),
        eos_token_id=token_id(tok_json, "<|im_end|>"),
        torch_dtype="float32",
    )
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(cfg).eval()
    # Norm weights ~ 1 + 0.1 N(0,1) so a missing norm multiply is visible.
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
    return model


def check_norms_randomised(model):
    names = [n for n, _ in model.named_parameters() if "norm" in n]
    # per layer: input_layernorm, post_attention_layernorm, q_norm, k_norm; + final norm
    assert len(names) == 4 * model.config.num_hidden_layers + 1, names
    for n, p in model.named_parameters():
        if "norm" in n:
            assert (p - 1).abs().max() > 0.05, n


def save_checkpoint(model, out_dir: Path, dtype, max_shard_size, tok_json):
    m = copy.deepcopy(model).to(dtype)
    kwargs = {"safe_serialization": True}
    if max_shard_size:
        kwargs["max_shard_size"] = max_shard_size
    m.save_pretrained(out_dir, **kwargs)
    write_json(out_dir / "tokenizer.json", tok_json)
    write_json(out_dir / "tokenizer_config.json", tokenizer_config(tok_json, model.config.max_position_embeddings))
    write_json(out_dir / "generation_config.json", generation_config(tok_json))


def stored_tensors(out_dir: Path) -> dict:
    files = sorted(out_dir.glob("*.safetensors"))
    files = [f for f in files if f.name != "reference.safetensors"]
    tensors = {}
    for f in files:
        with safe_open(str(f), framework="pt") as sf:
            for k in sf.keys():
                assert k not in tensors, k
                tensors[k] = sf.get_tensor(k)
    return tensors, files


def check_checkpoint(name, model, out_dir, dtype, max_shard_size):
    tensors, files = stored_tensors(out_dir)
    cfg = json.loads((out_dir / "config.json").read_text())
    # transformers >= 4.56 writes "dtype"; older checkpoints (Qwen3's own) say "torch_dtype".
    stored_dtype = cfg.get("dtype", cfg.get("torch_dtype"))
    assert stored_dtype == str(dtype).split(".")[1], stored_dtype
    for k, t in tensors.items():
        assert t.dtype == dtype, (k, t.dtype)
    if model.config.tie_word_embeddings:
        assert "lm_head.weight" not in tensors, "tied checkpoint stores lm_head.weight"
    else:
        assert "lm_head.weight" in tensors
    if max_shard_size:
        assert len(files) >= 2, files
        index = json.loads((out_dir / "model.safetensors.index.json").read_text())
        assert set(index["weight_map"]) == set(tensors)
        for k, f in index["weight_map"].items():
            with safe_open(str(out_dir / f), framework="pt") as sf:
                assert k in sf.keys()
    else:
        assert [f.name for f in files] == ["model.safetensors"], files
    # Stored values are exactly the model's weights rounded to `dtype`.
    sd = model.state_dict()
    for k, t in tensors.items():
        assert torch.equal(t, sd[k].to(dtype)), k
    expected = {k for k in sd if not (model.config.tie_word_embeddings and k == "lm_head.weight")}
    assert set(tensors) == expected, set(tensors) ^ expected
    log(f"  {name}: {len(tensors)} tensors in {len(files)} file(s), dtype {dtype}")
    return tensors


# ---------------------------------------------------------------------------
# Reference outputs
# ---------------------------------------------------------------------------
@torch.no_grad()
def compute_reference(name, out_dir: Path, tensors, prompt: str, tok_json: dict):
    ref = Qwen3ForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").eval()
    assert ref.config._attn_implementation == "eager"
    # The reference must run on exactly the stored (possibly rounded) weights.
    for k, t in tensors.items():
        assert torch.equal(ref.state_dict()[k], t.float()), k
    if ref.config.tie_word_embeddings:
        assert ref.lm_head.weight.data_ptr() == ref.model.embed_tokens.weight.data_ptr()

    # Tokenize with the fast tokenizer and cross-check with tokenizers directly.
    hf_tok = AutoTokenizer.from_pretrained(out_dir)
    ids = hf_tok(prompt, add_special_tokens=False)["input_ids"]
    raw = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    assert raw.encode(prompt, add_special_tokens=False).ids == ids
    assert hf_tok.decode(ids) == prompt
    T = len(ids)
    input_ids = torch.tensor([ids], dtype=torch.long)

    # Capture the last decoder layer's output (before the final norm).
    captured = {}

    def hook(_mod, _inp, out):
        captured["last"] = (out[0] if isinstance(out, tuple) else out).detach().clone()

    h = ref.model.layers[-1].register_forward_hook(hook)
    out = ref(input_ids=input_ids, output_hidden_states=True, use_cache=False)
    h.remove()
    prefill_logits = out.logits[0].float()
    hidden = torch.stack([x[0] for x in out.hidden_states]).float()
    last_layer_output = captured["last"][0].float()
    L = ref.config.num_hidden_layers
    assert hidden.shape == (L + 1, T, ref.config.hidden_size), hidden.shape
    # HF's last hidden_states entry already went through model.norm.
    assert torch.allclose(hidden[-1], ref.model.norm(last_layer_output[None])[0], atol=1e-6, rtol=0)
    assert not torch.allclose(hidden[-1], last_layer_output, atol=1e-3)
    assert torch.allclose(hidden[0], ref.model.embed_tokens(input_ids)[0])
    assert torch.allclose(prefill_logits, ref.lm_head(hidden[-1]), atol=1e-5, rtol=0)

    # Greedy decoding with the KV cache, never stopping at EOS.
    greedy_ids, greedy_logits = [], []
    step = ref(input_ids=input_ids, use_cache=True)
    cache = step.past_key_values
    logits = step.logits[0, -1].float()
    for i in range(N_GREEDY):
        nxt = int(torch.argmax(logits))
        greedy_ids.append(nxt)
        greedy_logits.append(logits.clone())
        if i + 1 == N_GREEDY:
            break
        step = ref(
            input_ids=torch.tensor([[nxt]]),
            past_key_values=cache,
            use_cache=True,
            cache_position=torch.tensor([T + i]),
        )
        cache = step.past_key_values
        logits = step.logits[0, -1].float()
    greedy_logits = torch.stack(greedy_logits)
    assert torch.allclose(greedy_logits[0], prefill_logits[-1], atol=1e-6, rtol=0)

    # Referee sanity: cached steps == one no-cache forward over prompt+generated.
    full = ref(input_ids=torch.tensor([ids + greedy_ids[:-1]]), use_cache=False).logits[0].float()
    diff = (full[T - 1 :] - greedy_logits).abs().max().item()
    assert diff <= 1e-5, f"{name}: cached vs no-cache logits differ by {diff}"
    assert torch.equal(full[T - 1 :].argmax(-1), torch.tensor(greedy_ids))

    # And model.generate agrees with the manual loop.
    gcfg = GenerationConfig(
        do_sample=False,
        max_new_tokens=N_GREEDY,
        min_new_tokens=N_GREEDY,
        eos_token_id=None,
        pad_token_id=token_id(tok_json, "<|endoftext|>"),
        bos_token_id=token_id(tok_json, "<|endoftext|>"),
    )
    g = ref.generate(
        input_ids,
        attention_mask=torch.ones_like(input_ids),
        generation_config=gcfg,
        output_logits=True,
        return_dict_in_generate=True,
        use_model_defaults=False,  # else generation_config.json's do_sample=True wins
    )
    assert g.sequences[0, T:].tolist() == greedy_ids, (g.sequences[0, T:].tolist(), greedy_ids)
    gen_logits = torch.stack([x[0] for x in g.logits]).float()
    gdiff = (gen_logits - greedy_logits).abs().max().item()
    assert gdiff <= 1e-5, f"{name}: generate vs manual logits differ by {gdiff}"

    tensors_out = {
        "prompt_ids": torch.tensor(ids, dtype=torch.int32),
        "prefill_logits": prefill_logits.contiguous(),
        "hidden_states": hidden.contiguous(),
        "last_layer_output": last_layer_output.contiguous(),
        "greedy_ids": torch.tensor(greedy_ids, dtype=torch.int32),
        "greedy_logits": greedy_logits.contiguous(),
    }
    metadata = {
        "format": "qwen3_mpi-reference",
        "version": "1",
        "regenerate": REGENERATE,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "model": name,
        "prompt": prompt,
        "hidden_states_note": "hidden_states[0] = embeddings, hidden_states[i] = output of layer i-1, "
        "except the last entry which already has the final RMSNorm (model.norm) applied; "
        "last_layer_output is the last layer's output before that norm",
    }
    write_safetensors(out_dir / "reference.safetensors", tensors_out, metadata)
    back = safe_open_all(out_dir / "reference.safetensors")
    assert all(torch.equal(back[k], v) for k, v in tensors_out.items())

    std = prefill_logits.std().item()
    top2 = greedy_logits.topk(2, dim=-1).values
    margin = (top2[:, 0] - top2[:, 1]).min().item()
    log(
        f"  {name}: T={T} prefill_logits std={std:.4f} mean={prefill_logits.mean().item():+.4f} "
        f"absmax={prefill_logits.abs().max().item():.3f}; greedy_ids={greedy_ids}; "
        f"min top1-top2 margin={margin:.2e}; cache-vs-full max|d|={diff:.2e}, "
        f"generate-vs-manual max|d|={gdiff:.2e}"
    )
    log(f"  {name}: greedy text={hf_tok.decode([i for i in greedy_ids if i < VOCAB_TOTAL])!r}")
    assert 0.3 < std < 5.0, f"{name}: logits std {std} not of order 1"
    assert len(set(greedy_ids)) > 1, f"{name}: greedy ids all equal"
    # Leave room for a different (but correct) float summation order.
    assert margin > 1e-3, f"{name}: greedy argmax is a near tie ({margin})"
    assert len(set(prefill_logits.argmax(-1).tolist())) > 3, f"{name}: prefill argmax collapsed"
    return std


def long_prompt_ids(hf_tok, corpus: Path):
    text = corpus.read_text(encoding="utf-8")[LONG_CORPUS_OFFSET : LONG_CORPUS_OFFSET + 8 * LONG_T]
    ids = hf_tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > LONG_T, len(ids)
    return ids[:LONG_T]


def rope_f64(rotary):
    """A replacement forward for Qwen3RotaryEmbedding that computes the angles position * inv_freq and
    their cos/sin in float64 (transformers: float32), returning float32 cos/sin.  Used only to measure
    how much transformers' own float32 angle rounding moves the logits at large positions."""

    def forward(x, position_ids):
        inv = rotary.inv_freq.double()  # the float32 inv_freq, widened exactly
        freqs = position_ids.double()[..., None] * inv[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * rotary.attention_scaling).to(x.dtype), (emb.sin() * rotary.attention_scaling).to(x.dtype)

    return forward


@torch.no_grad()
def compute_long_reference(name, out_dir: Path, tensors, corpus: Path):
    """reference.safetensors for a long-position model.  Full rows only at LONG_ROWS (a full
    [T, V] would be 5 MB); the teacher-forced next-token logprob at every position."""
    ref = Qwen3ForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").eval()
    assert ref.config._attn_implementation == "eager"
    for k, t in tensors.items():
        assert torch.equal(ref.state_dict()[k], t.float()), k
    hf_tok = AutoTokenizer.from_pretrained(out_dir)
    ids = long_prompt_ids(hf_tok, corpus)
    raw = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    assert raw.encode(hf_tok.decode(ids), add_special_tokens=False).ids[: LONG_T - 8] == ids[: LONG_T - 8]
    T, V = LONG_T, ref.config.vocab_size
    input_ids = torch.tensor([ids], dtype=torch.long)

    # One no-cache forward over the whole prompt.
    full = ref(input_ids=input_ids, use_cache=False).logits[0].float()
    rows = torch.tensor(LONG_ROWS, dtype=torch.long)
    row_logits = full[rows].contiguous()
    next_logprob = torch.log_softmax(full[:-1].double(), dim=-1).gather(1, input_ids[0, 1:, None])[:, 0].float()

    # The test's split, in transformers: prefill T - LONG_DECODE tokens, then the rest one at a time
    # with the KV cache.  Must agree with the no-cache rows.
    split = T - LONG_DECODE
    step = ref(input_ids=input_ids[:, :split], use_cache=True)
    cache, cached_rows = step.past_key_values, [step.logits[0, -1].float()]
    for t in range(split, T):
        step = ref(input_ids=input_ids[:, t : t + 1], past_key_values=cache, use_cache=True, cache_position=torch.tensor([t]))
        cache = step.past_key_values
        cached_rows.append(step.logits[0, -1].float())
    split_diff = (torch.stack(cached_rows) - full[split - 1 :]).abs().max().item()
    assert split_diff <= 2e-5, f"{name}: prefill+decode vs no-cache logits differ by {split_diff}"

    # Greedy continuation past the prompt, from the cache of the split run.
    logits = cached_rows[-1]
    greedy_ids, greedy_logits = [], []
    for i in range(LONG_GREEDY):
        nxt = int(torch.argmax(logits))
        greedy_ids.append(nxt)
        greedy_logits.append(logits.clone())
        if i + 1 == LONG_GREEDY:
            break
        step = ref(input_ids=torch.tensor([[nxt]]), past_key_values=cache, use_cache=True, cache_position=torch.tensor([T + i]))
        cache = step.past_key_values
        logits = step.logits[0, -1].float()
    greedy_logits = torch.stack(greedy_logits)
    gfull = ref(input_ids=torch.tensor([ids + greedy_ids[:-1]]), use_cache=False).logits[0, T - 1 :].float()
    greedy_diff = (gfull - greedy_logits).abs().max().item()
    assert greedy_diff <= 2e-5, f"{name}: greedy cached vs no-cache logits differ by {greedy_diff}"
    assert torch.equal(gfull.argmax(-1), torch.tensor(greedy_ids))

    # How much transformers' float32 RoPE angles move the logits here (for the test's tolerance).
    rotary = ref.model.rotary_emb
    rotary.forward = rope_f64(rotary)
    full64 = ref(input_ids=input_ids, use_cache=False).logits[0].float()
    del rotary.forward
    rope_diff_rows = (full64[rows] - row_logits).abs().max().item()
    rope_diff_all = (full64 - full).abs().max().item()
    rope_diff_short = (full64[:128] - full[:128]).abs().max().item()

    tensors_out = {
        "prompt_ids": torch.tensor(ids, dtype=torch.int32),
        "row_positions": rows.to(torch.int32),
        "row_logits": row_logits,
        "next_logprob": next_logprob.contiguous(),
        "greedy_ids": torch.tensor(greedy_ids, dtype=torch.int32),
        "greedy_logits": greedy_logits.contiguous(),
    }
    metadata = {
        "format": "qwen3_mpi-reference-long",
        "version": "1",
        "regenerate": REGENERATE,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "model": name,
        "prompt_source": f"corpus/pride-and-prejudice-1342-excerpt.txt from character {LONG_CORPUS_OFFSET}, "
        f"encoded with add_special_tokens=False, first {LONG_T} ids",
        "decode_split": str(split),
        "rope_f64_max_abs_logit_diff": f"{rope_diff_all:.3e}",
    }
    write_safetensors(out_dir / "reference.safetensors", tensors_out, metadata)
    back = safe_open_all(out_dir / "reference.safetensors")
    assert all(torch.equal(back[k], v) for k, v in tensors_out.items())

    std = row_logits.std().item()
    top2 = greedy_logits.topk(2, dim=-1).values
    margin = (top2[:, 0] - top2[:, 1]).min().item()
    log(
        f"  {name}: T={T} rows={len(LONG_ROWS)} row logits std={std:.4f} absmax={row_logits.abs().max().item():.3f}; "
        f"greedy_ids={greedy_ids}; min top1-top2 margin={margin:.2e}; split-vs-full max|d|={split_diff:.2e}; "
        f"greedy cached-vs-full max|d|={greedy_diff:.2e}; f64-vs-f32 RoPE max|d| all={rope_diff_all:.2e} "
        f"rows={rope_diff_rows:.2e} first128={rope_diff_short:.2e}; next_logprob mean={next_logprob.mean().item():.3f}"
    )
    assert 0.3 < std < 5.0, f"{name}: logits std {std} not of order 1"
    assert len(set(greedy_ids)) > 1, f"{name}: greedy ids all equal"
    assert margin > 1e-3, f"{name}: greedy argmax is a near tie ({margin})"
    return std


# ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory (tests/data/models)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="tokenizer training text")
    ap.add_argument(
        "--make-corpus-from",
        type=Path,
        default=None,
        help="first (re)write --corpus as an excerpt of this full Gutenberg text",
    )
    ap.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="NAME",
        help="(re)write only this model directory (repeatable); default: all of them",
    )
    args = ap.parse_args()
    known = set(MODELS) | set(LONG_MODELS)
    if args.only and not set(args.only) <= known:
        ap.error(f"--only: unknown model(s) {sorted(set(args.only) - known)}; known: {sorted(known)}")
    wanted = lambda name: not args.only or name in args.only  # noqa: E731

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    transformers.logging.set_verbosity_error()

    if args.make_corpus_from:
        make_corpus_excerpt(args.make_corpus_from, args.corpus)

    log(f"python {sys.version.split()[0]} torch {torch.__version__} transformers {transformers.__version__} "
        f"tokenizers {tokenizers.__version__} numpy {np.__version__}")
    tok_json = train_tokenizer(args.corpus)
    ids = {c: token_id(tok_json, c) for c, _ in ADDED_TOKENS}
    log(f"tokenizer: {VOCAB_TOTAL} tokens, added {ids}")

    args.out.mkdir(parents=True, exist_ok=True)
    stds = {}
    for name, (arch, seed, dtype, shard, prompt) in MODELS.items():
        if not wanted(name):
            continue
        out_dir = args.out / name
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        model = build_model(arch, seed, tok_json)
        check_norms_randomised(model)
        save_checkpoint(model, out_dir, dtype, shard, tok_json)
        tensors = check_checkpoint(name, model, out_dir, dtype, shard)
        stds[name] = compute_reference(name, out_dir, tensors, prompt, tok_json)
        ref = {k: v for k, v in safe_open_all(out_dir / "reference.safetensors").items()}
        if "gqa4" in name:
            assert ref["prompt_ids"].numel() > KV_BLOCK, "gqa4 prompt must cross the KV block boundary"
        size = sum(f.stat().st_size for f in out_dir.iterdir())
        log(f"  {name}: {size / 1e6:.2f} MB in {sorted(f.name for f in out_dir.iterdir())}")

    for name, (arch, seed, dtype) in LONG_MODELS.items():
        if not wanted(name):
            continue
        out_dir = args.out / name
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        model = build_model(arch, seed, tok_json)
        check_norms_randomised(model)
        save_checkpoint(model, out_dir, dtype, None, tok_json)
        tensors = check_checkpoint(name, model, out_dir, dtype, None)
        stds[name] = compute_long_reference(name, out_dir, tensors, args.corpus)
        size = sum(f.stat().st_size for f in out_dir.iterdir())
        log(f"  {name}: {size / 1e6:.2f} MB in {sorted(f.name for f in out_dir.iterdir())}")

    # bf16/f16 must really differ from the f32 reference (otherwise rounding is untested).
    base = safe_open_all(args.out / "tiny-gqa4" / "reference.safetensors")
    for variant in [v for v in ("tiny-gqa4-bf16", "tiny-gqa4-f16") if wanted(v) or wanted("tiny-gqa4")]:
        r = safe_open_all(args.out / variant / "reference.safetensors")
        assert torch.equal(r["prompt_ids"], base["prompt_ids"])
        d = (r["prefill_logits"] - base["prefill_logits"]).abs().max().item()
        log(f"  {variant} vs tiny-gqa4: max|prefill logit diff|={d:.3e}")
        assert d > 1e-5, variant
    log("logits std: " + ", ".join(f"{k}={v:.4f}" for k, v in stds.items()))


def safe_open_all(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as sf:
        return {k: sf.get_tensor(k) for k in sf.keys()}


if __name__ == "__main__":
    main()
