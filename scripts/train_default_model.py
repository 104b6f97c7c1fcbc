#!/usr/bin/env python3
"""Train qwen3_mpi's small default model: a Qwen3ForCausalLM from scratch, on the CPU.

What it does, in order:

1. Reads the corpus files given as arguments (public-domain long-form English:
   Project Gutenberg novels as UTF-8 text, and the King James Bible as Debian's
   ``bible-kjv-text`` ships it, i.e. ``/usr/lib/bible.data``, decoded with the
   ``bible`` program of the ``bible-kjv`` package).  Project Gutenberg
   header/licence boilerplate (outside the ``*** START OF`` / ``*** END OF``
   markers) and ``[Illustration: ...]`` blocks are removed, hard-wrapped lines
   are joined into one line per paragraph, paragraphs are separated by a blank
   line.  The KJV becomes one verse per line (no verse numbers), chapters
   separated by a blank line.
2. Keeps one WHOLE book out (``--heldout-book``, matched against the file
   names), and the last ``--val-frac`` of every other book (cut at a paragraph
   boundary) as the validation split.  Files given with ``--eval-file`` (e.g.
   WikiText-2 test) are only evaluated, never trained on.
3. Trains a byte-level BPE tokenizer with ``tokenizers`` on the training split
   only, with exactly Qwen3's normalizer (NFC), pre-tokenizer (Split on Qwen's
   regex, Isolated, then ByteLevel add_prefix_space=false use_regex=false),
   post-processor, ByteLevel decoder and BPE options (copied from Qwen3's
   tokenizer.json, Apache-2.0), the 256 ByteLevel symbols as the initial
   alphabet, and Qwen3's id layout: ids 0..255 are the bytes in GPT-2's
   bytes_to_unicode order, then one id per merge, then the added tokens
   <|endoftext|>, <|im_start|>, <|im_end|> ("special": true) and <think>,
   </think> ("special": false, as in Qwen3).
4. Fits a bigram baseline (linear interpolation of the bigram ML estimate with
   an add-one unigram; the interpolation weight picked on the validation split)
   on the same training tokens.
5. Trains Qwen3ForCausalLM (GQA, q/k RMSNorm, tied embeddings) with AdamW,
   linear warmup + cosine decay, bf16 autocast (fp32 master weights) or fp32,
   on shuffled non-overlapping windows of ``--ctx`` tokens (deterministic
   order from ``--seed``), until ``--steps`` steps or ``--time-budget-min``
   minutes.  With ``--steps auto`` (default) the step count is chosen after a
   short calibration so that the cosine schedule ends at the time budget.
6. Saves the model in the normal Hugging Face layout (config.json,
   model.safetensors in bf16, generation_config.json, tokenizer.json,
   tokenizer_config.json with Qwen3's chat template), LOADS IT BACK in fp32
   and computes validation / held-out-book (/ eval-file) perplexity from the
   saved bf16 weights, then writes the model card README.md and checks that
   the model beats the bigram baseline on the held-out book by
   ``--min-ratio`` (exit status 1 otherwise; the files are kept).

Perplexity = exp(mean NLL) over every token of a stream except the first,
the stream cut into non-overlapping windows of ``--ctx`` tokens (each window
starts without earlier context); every book/split stream starts with
<|endoftext|>.  The bigram baseline is scored on exactly the same tokens.

Run (see scripts/requirements-train.txt; the exact command of the default
model is in its model card).  Defaults = the default model (10.9 M parameters,
context 512); the training loop stops after --time-budget-min (80) minutes,
data preparation and the final evaluation add about 3-4 minutes on 2 cores:

  apt-get install -y bible-kjv bible-kjv-text
  python scripts/train_default_model.py --out models/qwen3-gutenberg-11m \\
      --heldout-book crime-and-punishment --threads 2 --time-budget-min 80 \\
      --eval-file CORPUS/wikitext-2-raw/wiki.test.raw \\
      CORPUS/gutenberg/*.txt /usr/lib/bible.data

Smoke test (tiny model, one thread, partial evaluation, no ratio check):

  python scripts/train_default_model.py --out /tmp/smoke --overwrite \\
      --heldout-book crime-and-punishment --threads 1 --time-budget-min 1 \\
      --hidden 128 --layers 2 --intermediate 384 --head-dim 16 --warmup 20 \\
      --log-every 10 --eval-every 40 --eval-max-windows 50 --min-ratio 0 \\
      CORPUS/gutenberg/*.txt /usr/lib/bible.data
"""

import argparse
import copy
import hashlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

# ---------------------------------------------------------------------------
# Arguments first: the thread count must be known before torch/tokenizers start.
# ---------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Train qwen3_mpi's default Qwen3 model from scratch on the CPU.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("files", nargs="+", type=Path, help="corpus files: UTF-8 text (Project Gutenberg) or Debian's bible.data")
    p.add_argument("--out", type=Path, required=True, help="output folder, e.g. models/qwen3-gutenberg-11m")
    p.add_argument("--overwrite", action="store_true", help="allow writing into an existing non-empty --out")
    p.add_argument("--heldout-book", required=True, help="substring of exactly one file name: that book is never trained on")
    p.add_argument("--val-frac", type=float, default=0.02, help="tail of every training book kept for validation")
    p.add_argument("--eval-file", type=Path, action="append", default=[], help="plain text evaluated only (e.g. WikiText-2 test); repeatable")
    # tokenizer
    p.add_argument("--vocab-size", type=int, default=4096, help="tokenizer entries incl. the 5 added tokens")
    # model
    p.add_argument("--hidden", type=int, default=384, help="hidden size")
    p.add_argument("--layers", type=int, default=6, help="decoder layers")
    p.add_argument("--heads", type=int, default=8, help="query heads")
    p.add_argument("--kv-heads", type=int, default=2, help="key/value heads (GQA)")
    p.add_argument("--head-dim", type=int, default=48, help="head dimension (even)")
    p.add_argument("--intermediate", type=int, default=1024, help="MLP (SwiGLU) size")
    p.add_argument("--rope-theta", type=float, default=10000.0, help="RoPE base")
    p.add_argument("--ctx", type=int, default=512, help="training context (tokens per window)")
    p.add_argument("--max-position-embeddings", type=int, default=0, help="config value; 0 = --ctx")
    # optimisation
    p.add_argument("--batch-size", type=int, default=8, help="windows per step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--min-lr-ratio", type=float, default=0.1, help="final LR = lr * this")
    p.add_argument("--warmup", type=int, default=200, help="warmup steps")
    p.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay of the matrices")
    p.add_argument("--grad-clip", type=float, default=1.0, help="gradient-norm clip (0 = off)")
    p.add_argument("--steps", default="auto", help="optimizer steps, or 'auto' = fill --time-budget-min")
    p.add_argument("--time-budget-min", type=float, default=80.0, help="wall-clock limit of the training loop (incl. compilation)")
    p.add_argument("--amp", choices=["bf16", "none"], default="bf16", help="bf16 autocast (fp32 master weights) or pure fp32")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True, help="torch.compile the training step")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where to train; cuda only shortens the wall time (same steps, same tokens; not bit-identical to cpu)")
    p.add_argument("--window-start", choices=["eot", "text"], default="eot",
                   help="first token of every training and evaluation window: <|endoftext|> (as pretraining pipelines that "
                        "pack documents do; gives the model a token to park attention on, i.e. attention sinks) or the text's own token")
    p.add_argument("--tokenizer-from", type=Path, default=None,
                   help="reuse DIR/tokenizer.json instead of training a tokenizer (keeps token ids of an earlier model)")
    p.add_argument("--seed", type=int, default=1234, help="seed of weights and data order")
    p.add_argument("--log-every", type=int, default=50, help="progress line every N steps")
    p.add_argument("--eval-every", type=int, default=500, help="validation (bf16 autocast) every N steps and at the end (0 = only at the end)")
    p.add_argument("--keep-best", action=argparse.BooleanOptionalAction, default=True,
                   help="save the weights with the best validation perplexity seen during training (guards against overfitting the repeated data)")
    p.add_argument("--eval-batch-size", type=int, default=16, help="windows per evaluation batch")
    p.add_argument("--eval-max-windows", type=int, default=0, help="final evaluation on at most N windows per stream (0 = all; for smoke tests only)")
    # checks
    p.add_argument("--min-ratio", type=float, default=2.0, help="required bigram_ppl / model_ppl on the held-out book (0 = no check)")
    p.add_argument("--max-folder-mb", type=float, default=30.0, help="the output folder must stay below this (0 = no check)")
    p.add_argument("--sample-prompt", default="It was late in the evening when", help="prompt of the sample in the model card")
    a = p.parse_args(argv)
    if a.steps != "auto":
        a.steps = int(a.steps)
        if a.steps <= 0:
            p.error("--steps must be positive or 'auto'")
    if not 0.0 < a.val_frac < 0.5:
        p.error("--val-frac must be in (0, 0.5)")
    if a.heads % a.kv_heads:
        p.error("--heads must be a multiple of --kv-heads")
    if a.head_dim % 2:
        p.error("--head-dim must be even (RoPE)")
    if a.max_position_embeddings == 0:
        a.max_position_embeddings = a.ctx
    if a.max_position_embeddings < a.ctx:
        p.error("--max-position-embeddings must be >= --ctx")
    return a


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    _t = str(ARGS.threads)
    for _k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_k] = _t
# tokenizers (Rust/rayon): one thread, so that BPE training cannot depend on the thread count
os.environ["RAYON_RS_NUM_CPUS"] = "1"
os.environ["RAYON_NUM_THREADS"] = "1"
if ARGS is None or ARGS.device == "cpu":
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()

from qwen3_tokenizer_format import (  # noqa: E402  (scripts/, on sys.path when run as a script)
    ADDED_TOKENS,
    check_renumbering,
    token_id,
    tokenizer_config,
    train_qwen3_bpe,
)


# Sampling defaults written to generation_config.json.
GENERATION = dict(do_sample=True, temperature=0.7, top_k=40, top_p=0.9, repetition_penalty=1.1)

START_MARK = "*** START OF"
END_MARK = "*** END OF"
T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj):
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------
def clean_gutenberg(text: str) -> list:
    """Project Gutenberg text -> list of paragraphs (one line each)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = next((i for i, l in enumerate(lines) if l.lstrip().startswith(START_MARK)), None)
    if start is not None:
        lines = lines[start + 1 :]
    end = next((i for i, l in enumerate(lines) if l.lstrip().startswith(END_MARK)), None)
    if end is not None:
        lines = lines[:end]
    text = "\n".join(lines)
    text = re.sub(r"\[Illustration[^\]]*\]", "", text)
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text):
        para = " ".join(l.strip() for l in block.split("\n") if l.strip())
        para = re.sub(r"[ \t]+", " ", para)
        if para:
            paragraphs.append(para)
    return paragraphs


KJV_VERSE = re.compile(r"^(.+?)(\d+):(\d+) (.*)$")


def decode_kjv(path: Path) -> list:
    """Debian's bible-kjv-text data file -> list of chapters (one verse per line),
    decoded with the `bible` program of the bible-kjv package."""
    exe = shutil.which("bible")
    if exe is None:
        sys.exit(f"{path}: decoding the KJV needs the `bible` program: apt-get install -y bible-kjv bible-kjv-text")
    out = subprocess.run(
        [exe, "-f", "-p", str(path.parent), "-d", path.name, "Gen1:1-Rev22:21"],
        check=True,
        capture_output=True,
    ).stdout.decode("utf-8")
    chapters, cur, key = [], [], None
    n = 0
    for line in out.split("\n"):
        if not line.strip():
            continue
        m = KJV_VERSE.match(line)
        if m is None:
            sys.exit(f"{path}: unexpected line from `bible`: {line[:80]!r}")
        k = (m.group(1), m.group(2))
        if k != key and cur:
            chapters.append("\n".join(cur))
            cur = []
        key = k
        cur.append(m.group(4).strip())
        n += 1
    if cur:
        chapters.append("\n".join(cur))
    if n != 31102:
        sys.exit(f"{path}: expected the 31102 verses of the KJV, got {n}")
    return chapters


def book_name(path: Path) -> str:
    return "kjv-bible" if path.name == "bible.data" else path.stem


def dpkg_version(pkg: str) -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def load_corpus(args):
    books = []
    names = set()
    for path in args.files:
        path = path.resolve()
        if not path.is_file():
            sys.exit(f"{path}: no such file")
        if re.search(r"wiki", path.name, re.IGNORECASE):
            sys.exit(f"{path}: WikiText must never be trained on (use --eval-file to evaluate on it)")
        name = book_name(path)
        if name in names:
            sys.exit(f"{path}: book {name} given twice")
        names.add(name)
        info = {"name": name, "path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}
        if path.name == "bible.data":
            paras = decode_kjv(path)
            info["kind"] = "King James Bible (1611), Debian bible-kjv-text " + dpkg_version("bible-kjv-text") + ", decoded with `bible -f` (bible-kjv " + dpkg_version("bible-kjv") + ")"
            info["licence"] = "public domain (Crown letters patent in the UK)"
        else:
            paras = clean_gutenberg(path.read_text(encoding="utf-8"))
            info["kind"] = "Project Gutenberg text" + (f" (eBook #{m.group(1)})" if (m := re.search(r"-(\d+)$", path.stem)) else "")
            info["licence"] = "public domain in the USA (Project Gutenberg boilerplate stripped)"
        sep = "\n\n"
        text = sep.join(paras)
        info["clean_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        info["clean_chars"] = len(text)
        books.append((info, paras, sep))
    held = [b for b in books if args.heldout_book in b[0]["name"]]
    if len(held) != 1:
        sys.exit(f"--heldout-book {args.heldout_book!r} matches {len(held)} of {[b[0]['name'] for b in books]}; need exactly one")
    held_name = held[0][0]["name"]
    train_docs, val_docs, heldout_doc, infos = [], [], None, []
    for info, paras, sep in books:
        if info["name"] == held_name:
            info["split"] = "held out (whole book)"
            heldout_doc = sep.join(paras)
        else:
            total = sum(len(p) + len(sep) for p in paras)
            cut, acc = len(paras), 0
            for i, p in enumerate(paras):
                if acc >= (1.0 - args.val_frac) * total:
                    cut = i
                    break
                acc += len(p) + len(sep)
            cut = min(max(cut, 1), len(paras) - 1)
            train_docs.append((info["name"], sep.join(paras[:cut])))
            val_docs.append((info["name"], sep.join(paras[cut:])))
            info["split"] = f"train: paragraphs 1..{cut}; validation: last {len(paras) - cut} of {len(paras)} paragraphs"
        infos.append(info)
    evals = []
    for path in args.eval_file:
        path = path.resolve()
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        evals.append(({"name": path.name, "path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}, text))
    return infos, train_docs, val_docs, (held_name, heldout_doc), evals


# ---------------------------------------------------------------------------
# Tokenizer (trained by qwen3_tokenizer_format.train_qwen3_bpe, as the fixtures' is)
# ---------------------------------------------------------------------------
def train_tokenizer(texts: list, vocab_total: int) -> dict:
    out, tok = train_qwen3_bpe(texts, vocab_total)
    check_renumbering(out, tok, [texts[0][:50_000], texts[-1][-20_000:]],
                      ["h\u00e9llo \u4e2d\u6587 \U0001f642 \x00\x07\t\r\n", "<|im_start|>user\nhi<|im_end|>\n<think>\n\n</think>\n\n"])
    return out


def generation_config(tok_json: dict) -> dict:
    eot = token_id(tok_json, "<|endoftext|>")
    im_end = token_id(tok_json, "<|im_end|>")
    return {
        "bos_token_id": eot,
        "do_sample": GENERATION["do_sample"],
        "eos_token_id": [im_end, eot],
        "pad_token_id": eot,
        "repetition_penalty": GENERATION["repetition_penalty"],
        "temperature": GENERATION["temperature"],
        "top_k": GENERATION["top_k"],
        "top_p": GENERATION["top_p"],
        "transformers_version": transformers.__version__,
    }


# ---------------------------------------------------------------------------
# Bigram baseline
# ---------------------------------------------------------------------------
class Bigram:
    """P(b|a) = lam * c(a,b)/c(a) + (1-lam) * (c(b)+1)/(N+V); lam = 0 where c(a) = 0."""

    def __init__(self, train: np.ndarray, V: int):
        self.V = V
        a, b = train[:-1].astype(np.int64), train[1:].astype(np.int64)
        self.pair = np.bincount(a * V + b, minlength=V * V).astype(np.float64)
        self.ctx = np.bincount(a, minlength=V).astype(np.float64)
        uni = np.bincount(b, minlength=V).astype(np.float64)
        self.uni = (uni + 1.0) / (uni.sum() + V)
        self.lam = 0.9

    def nll(self, streams, lam=None):
        lam = self.lam if lam is None else lam
        tot, n = 0.0, 0
        for s in streams:
            a, b = s[:-1].astype(np.int64), s[1:].astype(np.int64)
            ca = self.ctx[a]
            ml = np.where(ca > 0, self.pair[a * self.V + b] / np.maximum(ca, 1.0), 0.0)
            w = np.where(ca > 0, lam, 0.0)
            p = w * ml + (1.0 - w) * self.uni[b]
            tot += float(-np.log(p).sum())
            n += len(b)
        return tot, n

    def tune(self, streams):
        best = None
        for lam in [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99]:
            t, n = self.nll(streams, lam)
            if best is None or t < best[0]:
                best = (t, lam)
        self.lam = best[1]
        return self.lam


# ---------------------------------------------------------------------------
# Model evaluation
# ---------------------------------------------------------------------------
@torch.no_grad()
def stream_nll(model, ids: np.ndarray, ctx: int, batch: int, amp: bool, max_windows: int = 0, start_token=None):
    """Sum of NLL over ids[1:], non-overlapping windows of ctx tokens.  With start_token, each window's
    first token (context only, never scored) is replaced by it: the same tokens are scored either way."""
    dev = next(model.parameters()).device
    x = torch.from_numpy(ids.astype(np.int64)).to(dev)
    N = len(x)
    starts = list(range(0, N - 1, ctx))
    if max_windows:
        starts = starts[:max_windows]
    full = [s for s in starts if s + ctx + 1 <= N]
    part = [s for s in starts if s + ctx + 1 > N]
    tot, n = 0.0, 0
    was_training = model.training
    model.eval()
    for i in range(0, len(full), batch):
        ss = full[i : i + batch]
        win = torch.stack([x[s : s + ctx + 1] for s in ss])
        if start_token is not None:
            win[:, 0] = start_token
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(input_ids=win[:, :-1], use_cache=False).logits
        tot += F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), win[:, 1:].reshape(-1), reduction="sum").item()
        n += win[:, 1:].numel()
    for s in part:
        win = x[s:N].clone().unsqueeze(0)
        if start_token is not None:
            win[:, 0] = start_token
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(input_ids=win[:, :-1], use_cache=False).logits
        tot += F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), win[:, 1:].reshape(-1), reduction="sum").item()
        n += win.size(1) - 1
    if was_training:
        model.train()
    return tot, n


def ppl_of(streams, fn):
    tot, n = 0.0, 0
    for s in streams:
        t, k = fn(s)
        tot += t
        n += k
    return math.exp(tot / n), n


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------
def lr_at(step: int, total, args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    if total is None:
        return args.lr
    prog = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
    return args.lr * (args.min_lr_ratio + (1.0 - args.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * prog)))


class Batches:
    """Deterministic order: every epoch, the training stream is cut into
    non-overlapping windows of ctx+1 tokens (epoch-dependent offset), shuffled
    with a generator seeded by (seed, epoch).  With start_token, every window's
    first token (context only) becomes that token."""

    def __init__(self, stream: np.ndarray, ctx: int, batch: int, seed: int, device="cpu", start_token=None):
        self.x = torch.from_numpy(stream.astype(np.int64))
        self.ctx, self.batch, self.seed = ctx, batch, seed
        self.device, self.start_token = device, start_token
        self.epoch, self.order, self.pos = -1, [], 0
        self._new_epoch()

    def _new_epoch(self):
        self.epoch += 1
        offset = (self.epoch * 97) % self.ctx
        n = (len(self.x) - offset - 1) // self.ctx
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        self.order = (offset + torch.randperm(n, generator=g) * self.ctx).tolist()
        self.pos = 0

    def next(self):
        if self.pos + self.batch > len(self.order):
            self._new_epoch()
        ss = self.order[self.pos : self.pos + self.batch]
        self.pos += self.batch
        win = torch.stack([self.x[s : s + self.ctx + 1] for s in ss])
        if self.start_token is not None:
            win[:, 0] = self.start_token
        return win.to(self.device, non_blocking=True)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def device_name(args) -> str:
    if args.device == "cuda":
        return f"{torch.cuda.get_device_name(0)} (cuda), {args.threads} CPU thread(s) on {cpu_name()}"
    return f"{args.threads} thread(s) on {cpu_name()}"


def fmt_min(s: float) -> str:
    return f"{s / 60:.1f} min"


def main(args):
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    command = "python scripts/train_default_model.py " + shlex.join(sys.argv[1:])
    out = args.out
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        sys.exit(f"{out} exists and is not empty (use --overwrite)")
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}; "
        f"{device_name(args)} ({os.cpu_count()} CPUs)")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no GPU")

    # ---- corpus ----------------------------------------------------------
    infos, train_docs, val_docs, (held_name, held_text), evals = load_corpus(args)
    for i in infos:
        log(f"  {i['name']}: {i['bytes']} bytes, sha256 {i['sha256'][:16]}..., {i['clean_chars']} chars after cleaning; {i['split']}")

    # ---- tokenizer -------------------------------------------------------
    t = time.time()
    if args.tokenizer_from:
        tok_json = json.loads((args.tokenizer_from / "tokenizer.json").read_text(encoding="utf-8"))
        if len(tok_json["model"]["vocab"]) + len(tok_json["added_tokens"]) != args.vocab_size:
            sys.exit(f"{args.tokenizer_from}/tokenizer.json does not have --vocab-size {args.vocab_size} entries")
        log(f"tokenizer: reused {args.tokenizer_from / 'tokenizer.json'} (sha256 {sha256_file(args.tokenizer_from / 'tokenizer.json')[:16]}...)")
    else:
        tok_json = train_tokenizer([d for _, d in train_docs], args.vocab_size)
    tok = Tokenizer.from_str(json.dumps(tok_json))
    eot = token_id(tok_json, "<|endoftext|>")
    start_token = eot if args.window_start == "eot" else None
    vocab_cfg = (args.vocab_size + 63) // 64 * 64
    log(f"tokenizer: {args.vocab_size} entries ({args.vocab_size - 256 - len(ADDED_TOKENS)} merges) in {time.time() - t:.1f}s; config vocab_size {vocab_cfg}")

    def encode(text):
        return np.array([eot] + tok.encode(text, add_special_tokens=False).ids, dtype=np.int32)

    train_streams = [encode(d) for _, d in train_docs]
    val_streams = [encode(d) for _, d in val_docs]
    held_stream = encode(held_text)
    eval_streams = [(info, encode(text)) for info, text in evals]
    train = np.concatenate(train_streams)
    for (name, d), s in zip(train_docs, train_streams):
        for i in infos:
            if i["name"] == name:
                i["train_tokens"] = len(s)
    for (name, d), s in zip(val_docs, val_streams):
        for i in infos:
            if i["name"] == name:
                i["val_tokens"] = len(s)
    for i in infos:
        if i["name"] == held_name:
            i["heldout_tokens"] = len(held_stream)
    n_val = sum(len(s) - 1 for s in val_streams)
    train_bytes = sum(len(d.encode("utf-8")) for _, d in train_docs)
    log(f"tokens: train {len(train)} ({train_bytes / len(train):.2f} bytes/token), validation {n_val}, held-out {held_name} {len(held_stream) - 1}")

    # ---- bigram baseline ---------------------------------------------------
    bigram = Bigram(train, args.vocab_size)
    lam = bigram.tune(val_streams)
    bg_val = ppl_of(val_streams, lambda s: bigram.nll([s]))[0]
    bg_held = ppl_of([held_stream], lambda s: bigram.nll([s]))[0]
    bg_evals = {info["name"]: ppl_of([s], lambda s: bigram.nll([s]))[0] for info, s in eval_streams}
    log(f"bigram baseline (lambda {lam}): validation ppl {bg_val:.2f}, held-out ppl {bg_held:.2f}" + "".join(f", {k} ppl {v:.2f}" for k, v in bg_evals.items()))

    # ---- model -------------------------------------------------------------
    cfg = Qwen3Config(
        vocab_size=vocab_cfg,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.head_dim,
        hidden_act="silu",
        max_position_embeddings=args.max_position_embeddings,
        initializer_range=0.02,
        rms_norm_eps=1e-6,
        use_cache=True,
        tie_word_embeddings=True,
        rope_theta=args.rope_theta,
        rope_scaling=None,
        attention_bias=False,
        attention_dropout=0.0,
        use_sliding_window=False,
        sliding_window=None,
        max_window_layers=args.layers,
        bos_token_id=eot,
        eos_token_id=token_id(tok_json, "<|im_end|>"),
        pad_token_id=eot,
    )
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(args.seed)
    model = Qwen3ForCausalLM(cfg).to(args.device)
    model.train()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "embeddings not tied"
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = model.model.embed_tokens.weight.numel()
    log(f"model: {n_params:,} parameters ({n_embed:,} in the tied embedding), hidden {args.hidden}, {args.layers} layers, "
        f"{args.heads} q heads / {args.kv_heads} kv heads x {args.head_dim}, MLP {args.intermediate}, ctx {args.ctx}")

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
    )
    amp = args.amp == "bf16"
    V = cfg.vocab_size

    def loss_fn(win):
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=amp):
            logits = model(input_ids=win[:, :-1], use_cache=False).logits
        return F.cross_entropy(logits.float().reshape(-1, V), win[:, 1:].reshape(-1))

    step_fn = torch.compile(loss_fn) if args.compile else loss_fn
    compiled = args.compile
    batches = Batches(train, args.ctx, args.batch_size, args.seed, args.device, start_token)
    tokens_per_step = args.batch_size * args.ctx
    budget = args.time_budget_min * 60.0
    total = None if args.steps == "auto" else args.steps
    planned_total = total
    calib = (10, 40)  # steps timed to plan --steps auto
    t_calib = None
    eval_clock = [0.0]  # seconds spent in validation: excluded from speed measurements

    def train_clock():
        return time.time() - eval_clock[0]

    stopped_by_time = False
    history = []
    log(f"training: {tokens_per_step} tokens/step, lr {args.lr} warmup {args.warmup} cosine to x{args.min_lr_ratio}, "
        f"amp {args.amp}, compile {args.compile}, budget {args.time_budget_min} min, steps {args.steps}")
    t_train = time.time()
    t_log, tok_log, loss_acc, loss_n = train_clock(), 0, 0.0, 0
    wall_log, cpu_train, cpu_log = t_train, time.process_time(), time.process_time()
    rate = None  # steps per second (training only), known after calibration
    step = 0
    best = {"ppl": float("inf"), "step": 0, "state": None}
    evals_done = []  # (step, validation ppl with bf16 autocast / fp32 master weights)

    def validate(at_step):
        te = time.time()
        vq = ppl_of(val_streams, lambda s: stream_nll(model, s, args.ctx, args.eval_batch_size, amp, start_token=start_token))[0]
        evals_done.append((at_step, vq))
        if history and history[-1]["step"] == at_step:
            history[-1]["val_ppl"] = round(vq, 2)
        mark = ""
        if vq < best["ppl"]:
            best.update(ppl=vq, step=at_step)
            if args.keep_best:
                best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            mark = " (best so far)"
        eval_clock[0] += time.time() - te
        log(f"  validation ppl {vq:.2f} at step {at_step}{mark} [{time.time() - te:.1f}s]")
    while True:
        if total is not None and step >= total:
            break
        elapsed = time.time() - t_train
        if elapsed >= budget:
            stopped_by_time = True
            log(f"time budget reached at step {step}" + (f" of {total}" if total else ""))
            break
        lr = lr_at(step, total, args)
        for g in opt.param_groups:
            g["lr"] = lr
        win = batches.next()
        try:
            loss = step_fn(win)
        except Exception as e:  # compilation problems: fall back to eager, same maths
            if not compiled:
                raise
            log(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); continuing in eager mode")
            torch._dynamo.reset()
            step_fn, compiled = loss_fn, False
            opt.zero_grad(set_to_none=True)
            loss = step_fn(win)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        loss_acc += loss.item()
        loss_n += 1
        tok_log += tokens_per_step
        if step == calib[0]:
            t_calib = train_clock()
        if step >= calib[1]:
            rate = (step - calib[0]) / (train_clock() - t_calib)  # steps/s since calibration (compilation excluded)
        if step == calib[1] and args.steps == "auto":
            remaining = budget - (time.time() - t_train)
            total = max(step + 1, step + int(remaining * rate * 0.97))
            planned_total = total
            log(f"calibration: {rate * tokens_per_step:.0f} tokens/s -> {total} steps ({total * tokens_per_step / 1e6:.1f} M tokens) in the budget")
        if step % args.log_every == 0 or step == total:
            now, cpu_now, wall_now = train_clock(), time.process_time(), time.time()
            tps = tok_log / (now - t_log)
            busy = (cpu_now - cpu_log) / (wall_now - wall_log)
            el = wall_now - t_train
            eta = f", eta {fmt_min((total - step) / rate)}" if total and rate else ""
            log(f"step {step}{'/' + str(total) if total else ''} loss {loss_acc / loss_n:.4f} lr {lr:.2e} {tps:.0f} tokens/s, "
                f"(cpu {busy:.2f} cores), {step * tokens_per_step / 1e6:.2f} M tokens, epoch {batches.epoch}, {fmt_min(el)}{eta}")
            history.append({"step": step, "loss": round(loss_acc / loss_n, 4), "tokens_per_s": round(tps)})
            t_log, tok_log, loss_acc, loss_n, cpu_log, wall_log = now, 0, 0.0, 0, cpu_now, wall_now
            # shrink-only re-plan in auto mode if the machine got slower
            if args.steps == "auto" and total and step > calib[1]:
                fits = int((budget - el) * rate * 0.98)
                if total - step > fits and total - step > 10:
                    new_total = step + max(10, fits)
                    log(f"slower than planned: {total} -> {new_total} steps")
                    total = new_total
        if args.eval_every and step % args.eval_every == 0:
            validate(step)
    train_seconds = time.time() - t_train
    train_cpu = time.process_time() - cpu_train
    steps_done = step
    if not evals_done or evals_done[-1][0] != step:
        validate(step)
    if args.keep_best and best["step"] != steps_done:
        log(f"keeping the weights of step {best['step']} (validation ppl {best['ppl']:.2f}; step {steps_done}: {evals_done[-1][1]:.2f})")
        model.load_state_dict(best["state"])
    saved_step = best["step"] if args.keep_best else steps_done
    best.pop("state", None)
    tokens_seen = steps_done * tokens_per_step
    log(f"trained {steps_done} steps, {tokens_seen:,} tokens ({tokens_seen / len(train):.2f} epochs) in {fmt_min(train_seconds)}: "
        f"{tokens_seen / train_seconds:.0f} tokens/s overall, {train_cpu / train_seconds:.2f} cores busy on average")

    # ---- save (bf16) ---------------------------------------------------------
    out.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "README.md"):
        if (out / f).exists():
            (out / f).unlink()
    model.eval()
    model.to("cpu")
    trained_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    m16 = copy.deepcopy(model).to(torch.bfloat16)
    m16.generation_config = GenerationConfig(**{k: v for k, v in generation_config(tok_json).items() if k != "transformers_version"})
    m16.save_pretrained(out, safe_serialization=True)
    del m16
    write_json(out / "tokenizer.json", tok_json)
    write_json(out / "tokenizer_config.json", tokenizer_config(tok_json, args.max_position_embeddings))
    write_json(out / "generation_config.json", generation_config(tok_json))
    cfg_saved = json.loads((out / "config.json").read_text())
    assert cfg_saved.get("dtype", cfg_saved.get("torch_dtype")) == "bfloat16", cfg_saved
    with safe_open(str(out / "model.safetensors"), framework="pt") as sf:
        keys = list(sf.keys())
        for k in keys:
            assert sf.get_tensor(k).dtype == torch.bfloat16, k
        assert "lm_head.weight" not in keys, "tied checkpoint stores lm_head.weight"
    for p_ in out.iterdir():
        p_.chmod(0o644)
    log(f"saved {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")

    # ---- evaluate the SAVED weights in fp32 ----------------------------------
    te = time.time()
    ref = Qwen3ForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    rsd = ref.state_dict()
    for k, v in trained_sd.items():
        assert torch.equal(rsd[k], v.to(torch.bfloat16).float()), k
    ref = ref.to(args.device)
    mw = args.eval_max_windows
    if mw:
        # smoke tests: score model and bigram on the same truncated streams
        val_streams = [s[: mw * args.ctx + 1] for s in val_streams]
        held_stream = held_stream[: mw * args.ctx + 1]
        eval_streams = [(i, s[: mw * args.ctx + 1]) for i, s in eval_streams]
        bg_val = ppl_of(val_streams, lambda s: bigram.nll([s]))[0]
        bg_held = ppl_of([held_stream], lambda s: bigram.nll([s]))[0]
        bg_evals = {info["name"]: ppl_of([s], lambda s: bigram.nll([s]))[0] for info, s in eval_streams}
        log(f"PARTIAL evaluation (--eval-max-windows {mw}): bigram validation ppl {bg_val:.2f}, held-out ppl {bg_held:.2f}")
    val_ppl, val_n = ppl_of(val_streams, lambda s: stream_nll(ref, s, args.ctx, args.eval_batch_size, False, start_token=start_token))
    held_ppl, held_n = ppl_of([held_stream], lambda s: stream_nll(ref, s, args.ctx, args.eval_batch_size, False, start_token=start_token))
    eval_ppl = {}
    for info, s in eval_streams:
        eval_ppl[info["name"]] = ppl_of([s], lambda s: stream_nll(ref, s, args.ctx, args.eval_batch_size, False, start_token=start_token))
    ratio = bg_held / held_ppl
    log(f"saved bf16 weights, fp32 maths: validation ppl {val_ppl:.2f} ({val_n} tokens), held-out {held_name} ppl {held_ppl:.2f} ({held_n} tokens)"
        + "".join(f", {k} ppl {v[0]:.2f} ({v[1]} tokens)" for k, v in eval_ppl.items())
        + f"  [{time.time() - te:.0f}s]")
    log(f"bigram / model held-out perplexity ratio: {bg_held:.2f} / {held_ppl:.2f} = {ratio:.2f} (required >= {args.min_ratio})")

    # ---- tokenizer + generation through transformers' own loaders -------------
    hf_tok = AutoTokenizer.from_pretrained(out)
    probe = "It is a truth universally acknowledged, that a single man"
    assert hf_tok(probe, add_special_tokens=False)["input_ids"] == tok.encode(probe, add_special_tokens=False).ids
    chat = hf_tok.apply_chat_template([{"role": "user", "content": "Hello"}], tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", chat
    gen_cfg = GenerationConfig.from_pretrained(out)
    ids = torch.tensor([hf_tok(args.sample_prompt, add_special_tokens=False)["input_ids"]], device=args.device)
    torch.manual_seed(args.seed)
    with torch.no_grad():
        gen = ref.generate(ids, generation_config=gen_cfg, max_new_tokens=80)
    sample = hf_tok.decode(gen[0], skip_special_tokens=False)
    log(f"sample: {sample!r}")

    # ---- model card -----------------------------------------------------------
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    total_seconds = time.time() - T0
    card = model_card(
        args=args, command=command, infos=infos, held_name=held_name, n_params=n_params, n_embed=n_embed, cfg=cfg,
        tok_json=tok_json, train_tokens=len(train), train_bytes=train_bytes, val_n=val_n, held_n=held_n,
        steps_done=steps_done, planned_total=planned_total, total_final=total, stopped_by_time=stopped_by_time,
        tokens_seen=tokens_seen, train_seconds=train_seconds, train_cpu=train_cpu, saved_step=saved_step, evals_done=evals_done, total_seconds=total_seconds, compiled=compiled,
        val_ppl=val_ppl, held_ppl=held_ppl, eval_ppl=eval_ppl, eval_infos=[i for i, _ in eval_streams],
        bg_val=bg_val, bg_held=bg_held, bg_evals=bg_evals, lam=lam, ratio=ratio, history=history, sample=sample,
    )
    (out / "README.md").write_text(card, encoding="utf-8")
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())

    # ---- summary ----------------------------------------------------------------
    ok_ratio = args.min_ratio <= 0 or ratio >= args.min_ratio
    ok_size = args.max_folder_mb <= 0 or size < args.max_folder_mb * 1e6
    print()
    print("=" * 72)
    print(f"model folder        {out}  ({size / 1e6:.2f} MB{'' if ok_size else ' -- TOO LARGE'})")
    print(f"parameters          {n_params:,} (tied embedding {n_embed:,})")
    print(f"tokens seen         {tokens_seen:,} ({tokens_seen / len(train):.2f} epochs of {len(train):,}) in {steps_done} steps")
    print(f"training time       {fmt_min(train_seconds)} on {args.threads} thread(s); whole script {fmt_min(total_seconds)}")
    print(f"validation ppl      {val_ppl:.2f}   (bigram {bg_val:.2f})")
    print(f"held-out ppl        {held_ppl:.2f}   (bigram {bg_held:.2f}) -- {held_name}")
    for k, v in eval_ppl.items():
        print(f"{k:<20}{v[0]:.2f}   (bigram {bg_evals[k]:.2f})")
    print(f"bigram/model ratio  {ratio:.2f}  ({'OK' if ok_ratio else 'FAIL'}: required >= {args.min_ratio})")
    print("=" * 72, flush=True)
    if not ok_size:
        print(f"ERROR: {out} is {size / 1e6:.2f} MB >= {args.max_folder_mb} MB", file=sys.stderr)
    if not ok_ratio:
        print(f"ERROR: the model does not beat the bigram baseline by {args.min_ratio}x on the held-out book", file=sys.stderr)
    return 0 if (ok_ratio and ok_size) else 1


def model_card(**k) -> str:
    a = k["args"]
    cfg = k["cfg"]
    files_rows = []
    for i in k["infos"]:
        toks = (f"{i['train_tokens']:,} train / {i['val_tokens']:,} val" if "train_tokens" in i else f"{i['heldout_tokens']:,} held out")
        files_rows.append(f"| `{i['name']}` | {i['kind']} | {i['licence']} | `{i['path']}` | `{i['sha256']}` | {toks} |")
    eval_rows = [f"| `{i['name']}` (`{i['path']}`, sha256 `{i['sha256']}`) | {k['eval_ppl'][i['name']][0]:.2f} | {k['bg_evals'][i['name']]:.2f} | {k['eval_ppl'][i['name']][1]:,} |" for i in k["eval_infos"]]
    every = max(1, len(k["history"]) // 20)
    hist = "\n".join(f"| {h['step']} | {h['loss']} | {h['tokens_per_s']} | {h.get('val_ppl', '')} |" for i, h in enumerate(k["history"]) if i % every == 0 or "val_ppl" in h or i == len(k["history"]) - 1)
    vals = ", ".join(f"{st}: {v:.2f}" for st, v in k["evals_done"])
    stop_note = (
        f"stopped by the time budget after {k['steps_done']} of {k['total_final']} planned steps" if k["stopped_by_time"]
        else f"{k['steps_done']} steps" + (" (chosen by `--steps auto` from the measured speed" + ("" if k["total_final"] == k["planned_total"] else f", {k['planned_total']} before a re-plan") + ")" if a.steps == "auto" else "")
    )
    repro = k["command"] if a.steps != "auto" else re.sub(r" --steps[= ]auto\b", "", k["command"]) + f" --steps {k['steps_done']}"
    eot = token_id(k["tok_json"], "<|endoftext|>")
    im_end = token_id(k["tok_json"], "<|im_end|>")
    where = ("on one GPU, with the step count and token budget of a 2-core CPU run" if a.device == "cuda" else "on a 2-core CPU")
    start_note = ("every window's first token replaced by `<|endoftext|>`, so that each window starts the way a document does"
                  if a.window_start == "eot" else "each window starts with the text's own token")
    partial = "\n**PARTIAL EVALUATION (`--eval-max-windows`): a smoke test, not the model's real numbers.**\n" if a.eval_max_windows else ""
    return f"""# {a.out.name}

A small **Qwen3ForCausalLM trained from scratch** ({where}) as the default model of qwen3_mpi:
{k['n_params'] / 1e6:.2f} M parameters, byte-level BPE tokenizer of {a.vocab_size} tokens in Qwen3's format, trained on
public-domain long-form English (Project Gutenberg novels and the King James Bible).  It continues
text in the style of those books; it knows no facts, follows no instructions, and has never seen the
ChatML tokens (`<|im_start|>`, `<|im_end|>`, `<think>`), so chat mode only exercises the format.

Made by `scripts/train_default_model.py` (versions in `scripts/requirements-train.txt`).

## Results
{partial}
Perplexity of the **saved bf16 weights**, loaded back with transformers and evaluated in fp32:
exp(mean NLL) over every token of each stream except the first, the stream cut into
non-overlapping windows of {a.ctx} tokens (each window starts without earlier context; {start_note};
that first token is context only, never scored), each stream starting with `<|endoftext|>`.  The bigram baseline (fitted by the same script on the same training
tokens: interpolation lambda*ML-bigram + (1-lambda)*add-one unigram, lambda = {k['lam']} picked on the
validation split) is scored on exactly the same tokens.

| text | model ppl | bigram ppl | tokens |
|---|---|---|---|
| validation split (last {a.val_frac:.0%} of each training book) | {k['val_ppl']:.2f} | {k['bg_val']:.2f} | {k['val_n']:,} |
| **held-out book `{k['held_name']}`** (never trained on) | **{k['held_ppl']:.2f}** | {k['bg_held']:.2f} | {k['held_n']:,} |
{chr(10).join(eval_rows)}

Bigram / model perplexity on the held-out book: **{k['ratio']:.2f}x** (the script requires >= {a.min_ratio}x: {'PASS' if k['ratio'] >= a.min_ratio else 'FAIL'}).

## Corpus

| book | source | licence | file | sha256 of the file | tokens |
|---|---|---|---|---|---|
{chr(10).join(files_rows)}

Cleaning: Project Gutenberg header/licence text outside the `*** START OF` / `*** END OF` markers and
`[Illustration: ...]` blocks removed; hard-wrapped lines joined, one paragraph per line, paragraphs
separated by a blank line.  KJV: one verse per line without verse numbers, chapters separated by a
blank line.  Held-out split: the whole of `{k['held_name']}` (also excluded from tokenizer training);
validation split: the last {a.val_frac:.0%} (cut at a paragraph boundary) of every other book.  The tokenizer
and the bigram were fitted on the training split only.  Training tokens: {k['train_tokens']:,}
({k['train_bytes'] / k['train_tokens']:.2f} bytes/token).

## Model

| | |
|---|---|
| architecture | Qwen3ForCausalLM, {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, MLP {cfg.intermediate_size} (SwiGLU) |
| attention | {cfg.num_attention_heads} query heads / {cfg.num_key_value_heads} KV heads (GQA {cfg.num_attention_heads // cfg.num_key_value_heads}), head_dim {cfg.head_dim}, q/k RMSNorm, RoPE theta {cfg.rope_theta:g} |
| parameters | {k['n_params']:,} ({k['n_embed']:,} in the embedding, tied with the LM head) |
| vocabulary | {a.vocab_size} tokenizer entries (256 bytes + {a.vocab_size - 256 - len(ADDED_TOKENS)} merges + 5 added tokens), config vocab_size {cfg.vocab_size} |
| context | trained on windows of {a.ctx} tokens; max_position_embeddings {cfg.max_position_embeddings} |
| weights | `model.safetensors`, bfloat16 (trained in fp32 master weights{', bf16 autocast' if a.amp == 'bf16' else ''}) |
| special tokens | `<\\|endoftext\\|>` = {eot} (bos/pad, document separator in training), `<\\|im_end\\|>` = {im_end} (eos) |

Tokenizer: byte-level BPE trained with `tokenizers` with exactly Qwen3's normalizer (NFC),
pre-tokenizer (Split on Qwen's regex, Isolated; ByteLevel add_prefix_space=false use_regex=false),
post-processor and ByteLevel decoder; ids 0..255 are the 256 byte symbols in GPT-2 order; added tokens
`<|endoftext|>`, `<|im_start|>`, `<|im_end|>` (special) and `<think>`, `</think>` (not special), flags as
in Qwen3.  `tokenizer_config.json` carries Qwen3's chat template.

Generation defaults (`generation_config.json`): do_sample, temperature {GENERATION['temperature']}, top_k
{GENERATION['top_k']}, top_p {GENERATION['top_p']}, repetition_penalty {GENERATION['repetition_penalty']}, eos [{im_end}, {eot}].

Sample (transformers, saved weights, seed {a.seed}, prompt `{a.sample_prompt}`):

```
{k['sample']}
```

## Training

| | |
|---|---|
| tokens seen | {k['tokens_seen']:,} ({k['tokens_seen'] / k['train_tokens']:.2f} epochs), {a.batch_size} x {a.ctx} tokens per step, {stop_note} |
| saved weights | step {k['saved_step']} ({k['saved_step'] * a.batch_size * a.ctx:,} tokens){' = the best validation perplexity of the evaluations during training (`--keep-best`)' if a.keep_best else ' (the last step)'}; validation ppl by step (bf16 autocast, fp32 master weights): {vals} |
| optimiser | AdamW (betas 0.9/0.95, weight decay {a.weight_decay} on matrices), peak LR {a.lr}, {a.warmup} warmup steps, cosine to {a.min_lr_ratio}x, grad-clip {a.grad_clip} |
| numerics | {'bf16 autocast, fp32 master weights' if a.amp == 'bf16' else 'fp32'}; torch.compile {'on' if k['compiled'] else 'off'} |
| data order | non-overlapping {a.ctx + 1}-token windows of the concatenated training books, shuffled per epoch (seed {a.seed}); {start_note} (`--window-start {a.window_start}`) |
| training time | {fmt_min(k['train_seconds'])} wall (whole script {fmt_min(k['total_seconds'])}), {device_name(a)} ({os.cpu_count()} CPUs), {k['tokens_seen'] / k['train_seconds']:.0f} tokens/s, {k['train_cpu'] / k['train_seconds']:.2f} cores busy on average |
| versions | Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}, safetensors {safetensors.__version__}, numpy {np.__version__} |

Command:

```sh
{k['command']}
```

Reproduce the same run step for step (same seed, files, thread count and versions; with `--steps`
fixed the script is deterministic on the CPU: re-runs write bit-identical weights; on a GPU the same
steps give a model of the same quality, not the same bits):

```sh
{repro}
```

Training log (every ~{every * a.log_every} steps):

| step | train loss | tokens/s | validation ppl (bf16 autocast) |
|---|---|---|---|
{hist}

## Licence

The training texts are in the public domain (see the table).  The tokenizer format, chat template and
architecture follow Qwen3 (Apache-2.0); the weights were trained from scratch by the script above.
"""


if __name__ == "__main__":
    sys.exit(main(ARGS))
