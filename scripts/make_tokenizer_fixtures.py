#!/usr/bin/env python3
"""Writes the expected Qwen3 token ids that tests/tokenizer checks the C++ tokenizer against.

Reference: Hugging Face `tokenizers`, pinned so that the fixtures are reproducible:
    requirements: tokenizers==0.23.3
Set up once (outside the repository) and run from the repository root:
    python3 -m venv /work/venv-tok && /work/venv-tok/bin/pip install tokenizers==0.23.3
    /work/venv-tok/bin/python scripts/make_tokenizer_fixtures.py [--tokenizer PATH]

The tokenizer is read from tests/data/qwen3-tokenizer/tokenizer.json.tar.xz (the Qwen3 file shipped
with the tests) unless --tokenizer names a tokenizer.json. Outputs, in tests/data/tokenizer/:
  qwen3_expected.json      [{"text": str, "ids": [int], "nfc": str}, ...]
                           ids  = Tokenizer.encode(text, add_special_tokens=False).ids
                           nfc  = the text as the tokenizer sees it: its normaliser (NFC) applied
                                  to the stretches between added tokens (decode(ids) gives it back)
  tiny_tokenizer.json      a small byte-level BPE (Qwen's first merges, Qwen's pipeline) whose added
                           tokens use lstrip / rstrip / single_word / normalized, merges as "a b"
  tiny_tokenizer_pairs.json  the same with merges as ["a", "b"]
  tiny_expected.json       [{"text": str, "ids": [int]}, ...] for the tiny tokenizer
  qwen3_invalid_utf8.json  [{"hex": str, "ids": [int]}, ...]
                           hex  = raw bytes that are not well-formed UTF-8
                           ids  = the ids of bytes.decode("utf-8", errors="replace"), i.e. each
                                  ill-formed subpart read as U+FFFD
The corpus is fixed text plus seeded random strings, so reruns give identical files.
"""
import argparse
import io
import json
import random
import re
import sys
import tarfile
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer

PINNED = "0.23.3"
ROOT = Path(__file__).resolve().parent.parent

# --- Fixed corpus ------------------------------------------------------------------------------

# Public-domain books (Project Gutenberg texts, public domain in the United States).
PRIDE_AND_PREJUDICE = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife.\n\nHowever little known the feelings or views of such a man may be "
    "on his first entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families, that he is considered the rightful property of some one or other of "
    "their daughters.\n\n\u201cMy dear Mr. Bennet,\u201d said his lady to him one day, \u201chave "
    "you heard that Netherfield Park is let at last?\u201d\n\nMr. Bennet replied that he had not."
)
MOBY_DICK = (
    "Call me Ishmael. Some years ago\u2014never mind how long precisely\u2014having little or no "
    "money in my purse, and nothing particular to interest me on shore, I thought I would sail "
    "about a little and see the watery part of the world. It is a way I have of driving off the "
    "spleen and regulating the circulation."
)
ALICE = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having "
    "nothing to do: once or twice she had peeped into the book her sister was reading, but it had "
    "no pictures or conversations in it, \u2018and what is the use of a book,\u2019 thought Alice "
    "\u2018without pictures or conversations?\u2019"
)
TALE_OF_TWO_CITIES = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age "
    "of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season "
    "of Light, it was the season of Darkness, it was the spring of hope, it was the winter of "
    "despair."
)

PYTHON_CODE = '''import os


def walk(root: str, depth: int = 0) -> list[str]:
    """Return every file below root."""
    out = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            out += walk(path, depth + 1)   # recurse
        else:
            out.append(path)
    return out


if __name__ == "__main__":
    print(len(walk(".")), 'files')
'''

CPP_CODE = '''#include <vector>
#include <cstdint>

template <typename T>
std::vector<T> prefix_sums(const std::vector<T>& xs) {
\tstd::vector<T> out(xs.size());
\tT acc{};
\tfor (std::size_t i = 0; i < xs.size(); ++i) {
\t\tacc += xs[i];  // running total
\t\tout[i] = acc;
\t}
\treturn out;
}

int main() { return prefix_sums<int>({1, 2, 3}).back() == 6 ? 0 : 1; }
'''

FIXED = [
    "",
    "Hello, world!",
    "hello world",
    " Hello",
    "Hello ",
    "The quick brown fox jumps over the lazy dog.",
    PRIDE_AND_PREJUDICE,
    MOBY_DICK,
    ALICE,
    TALE_OF_TWO_CITIES,
    # Contractions, any case.
    "I'll go, you'd stay, we've won, they're here, it's fine, I'm done, don't stop.",
    "DON'T SHOUT. I'LL WAIT. WE'VE SEEN IT. YOU'RE RIGHT. HE'D KNOW. SHE'S HERE. I'M OK.",
    "It'S tHe'Ll mIxEd'Ve 'd 's 't 're 've 'm 'll",
    "rock 'n' roll, '90s, 'tis, o'clock, ''quoted''",
    "Long s: it'\u017f and upper ' S",
    # Chinese, Japanese, Korean, Arabic, Hebrew, Hindi, Thai, Russian, Greek.
    "\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u6563\u6b65\u5427\u3002",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u901a\u4e49\u5343\u95ee\u662f\u4e00\u4e2a\u5927\u8bed\u8a00\u6a21\u578b\u3002",
    "\u543e\u8f29\u306f\u732b\u3067\u3042\u308b\u3002\u540d\u524d\u306f\u307e\u3060\u7121\u3044\u3002"
    "\u30c8\u30fc\u30af\u30ca\u30a4\u30b6\u30fc\u306e\u30c6\u30b9\u30c8\u3067\u3059\u3002",
    "\uff8a\uff9d\uff76\uff78\uff76\uff80\uff76\uff85 \u5168\u89d2\uff21\uff22\uff23\uff11\uff12\uff13",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc744 \ud1a0\ud070\ud654\ud569\ub2c8\ub2e4.",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645! \u0643\u064a\u0641 "
    "\u062d\u0627\u0644\u0643\u061f \u0661\u0662\u0663",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0415\u0451\u0436\u0438\u043a.",
    "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5",
    "Mixed \u4e2d\u6587English\u65e5\u672c\u8a9e\ud55c\uad6d\uc5b4\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    # Emoji: plain, skin tones, ZWJ sequences, flags, keycaps, variation selectors.
    "\U0001F600\U0001F602\U0001F44D\U0001F3FD \u2764\ufe0f \u263a",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 family, "
    "\U0001F469\U0001F3FE\u200d\U0001F4BB coder, \U0001F3F3\ufe0f\u200d\U0001F308 flag",
    "\U0001F1FA\U0001F1F8\U0001F1EF\U0001F1F5\U0001F1E8\U0001F1F3 flags, "
    "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
    "1\ufe0f\u20e3 #\ufe0f\u20e3 keycaps",
    "emoji\U0001F525in\U0001F680the\U0001F30Dmiddle",
    # Code.
    PYTHON_CODE,
    CPP_CODE,
    "fn main() {\n    let x: Vec<u8> = vec![0x1F, 0xFF];\n    println!(\"{:?}\", x);\n}\n",
    "<div class=\"a\">&nbsp;<br/></div>\n<script>if(a<b&&c>d){}</script>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "$ ls -la | grep '.cpp' && echo \"done\" >> log.txt 2>&1",
    # White space runs: spaces, tabs, newlines, CRLF, trailing spaces.
    "a  b   c    d",
    "     leading and trailing     ",
    "line1\nline2\n\nline4\n\n\n",
    "windows\r\nline\r\nends\r\n",
    "  \n  ",
    "\n",
    " ",
    "\t",
    "\t\tindented\twith\ttabs\t",
    "mixed \t \n \r\n\t end",
    "trailing spaces   \nnext line   \n",
    "\r\r\n\n\r",
    "a\u00a0b\u3000c\u2028d\u2029e\u0085f\u000bg\u000ch",
    "x\u180e\u180ey \u180e \u180e\u180e",
    "zero\u200bwidth\u200cjoin\u200dx\ufeffbom",
    # Digits: Qwen splits numbers into single digits.
    "1234567890",
    "3.14159265358979323846264338327950288419716939937510",
    "Call 555-0100 at 10:30, costs $1,234.56 (or \u20ac1.234,56) on 2024-02-29.",
    "\uff11\uff12\uff13 \u0661\u0662\u0663 \u0967\u0968\u0969 \u2460\u2461 \u00bd \u2167",
    "v1.2.3-rc4+build.567 0x7fffffff 1e-9",
    # Added tokens spelled in text.
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?"
    "<|im_end|>\n<|im_start|>assistant\n",
    "<think>\n\n</think>\n\nThe answer is 4.",
    "<|endoftext|>",
    "<|endoftext|><|endoftext|>text<|endoftext|>",
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
    "<tool_response>ok</tool_response>",
    "<|fim_prefix|>def f():<|fim_suffix|>\n    return 1<|fim_middle|>",
    "<|vision_start|><|image_pad|><|vision_end|><|box_start|>(1,2)<|box_end|>",
    "<|im_start<|im_end|>|> <|im_startx <think <|im_end|",
    "a<|im_start|>b",
    " <|im_start|> spaced <|im_end|> ",
    "<|IM_START|> is not special, nor is < think >",
    # Unicode normalisation: NFD input, compatibility characters, Hangul jamo.
    "e\u0301",
    "\u00e9",
    "Cafe\u0301 na\u0131\u0308ve re\u0301sume\u0301",
    "\u1100\u1161\u11a8 \u1112\u1161\u11ab",
    "\u212b \u2126 A\u030a \u1e9b\u0323",
    "\u304b\u3099\u30cf\u309a",
    "\ufb01 \ufb00 \u2460 \u00b2 \u2122 \u3392",
    "a\u0308\u0301\u0327\u0323 stacked marks",
    # Odd characters.
    "null\u0000byte and \u0001\u0002\u0003 controls \u007f",
    "replacement \ufffd and private \ue000\U000F0000",
    "unassigned \u0378 and new CJK \U00031350\U00031351 and Kawi \U00011F04",
    # Letters and digits newer than PCRE2 10.42's Unicode 14 (HF's Oniguruma has Unicode 16):
    # "X'S" is one piece when X is a letter, "X'" one piece when it is not.
    "\U00031350'S \U0002EBF0'S \U00010D50'd \U00011380'll \U0001E4D0've \u0378'S",
    "\U00011F50' \U0001E4F0' \U00016D70' \u0661' x\U00011F51\U00011F52y",
    # NFC: HF's normaliser has Unicode 9.0 tables, so newer compositions and combining classes
    # are not applied (Dives Akuru 13.0, Tulu-Tigalari 16.0, Nag Mundari 15.0, Arabic 16.0).
    "\U00011935\U00011930 \U00011938 \U000113C2\U000113C2 \U00016D67\U00016D67",
    "a\U0001E4EC\u0301\u0327 b\u0897\u0301\u0323 e\u0301\U0001E4EC",
    "\u0915\u093c \u0929 \u0dd9\u0dcf \u1025\u102e",
    "math \U0001D400\U0001D401 \u2200x\u2208\u211d: x\u00b2 \u2265 0",
    "\u00ab\u00bb\u201e\u201c \u2018x\u2019 \u2026 \u2014 \u2013 \u00b7 \u2022",
    "!!!???...,,,;;;:::",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "=" * 100,
    "-" * 64 + "\n" + "#" * 64,
    "https://example.com/path?q=1&r=two#frag user@example.org",
]


def long_paragraph():
    """A few KB of prose with some numbers, quotes and a non-ASCII sprinkle."""
    parts = [PRIDE_AND_PREJUDICE, MOBY_DICK, ALICE, TALE_OF_TWO_CITIES]
    text = " ".join(parts * 3)
    text += " In 1851 the book sold 3,215 copies; na\u00efve readers called it \u201cstrange\u201d."
    return text


# --- Random strings ----------------------------------------------------------------------------

POOLS = {
    "ascii_word": ["the", "and", "of", "tokenizer", "Qwen", "hello", "World", "x", "I", "A", "z"],
    "letters": list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\u00e9\u00df\u0131\u0130\u017f"),
    "digits": list("0123456789") + ["\u0661", "\uff11", "\u00b2", "\u2167", "\u0e52"],
    "punct": list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["\u2014", "\u00bf", "\u3002", "\uff0c"],
    "space": [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u0085",
              "\u000b", "\u000c", "\u180e", "\u200b", "\u2009", "\u202f", " \n", "\n\n"],
    "contraction": ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'Ve", "'\u017f"],
    "mark": ["\u0301", "\u0308", "\u0327", "\u0323", "\u0338", "\u05b0", "\u0e31", "\u3099", "\u20e3"],
    "cjk": list("\u4e2d\u6587\u5b57\u7b26\u6d4b\u8bd5\u65e5\u672c\u8a9e\u304b\u30ab\u30fc\ud55c\uae00"),
    "jamo": ["\u1100", "\u1161", "\u11a8", "\u1112"],
    "other_script": list("\u0627\u0644\u0639\u0631\u0628\u05e9\u05dc\u0928\u092e\u094d\u0e2a\u0e27\u0416\u03a9"),
    "emoji": ["\U0001F600", "\U0001F44D\U0001F3FD", "\u2764\ufe0f", "\U0001F468\u200d\U0001F469",
              "\U0001F1FA\U0001F1F8", "\U0001F3F4\U000E0067\U000E0062\U000E007F", "\u200d", "\ufe0f"],
    "added": ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>",
              "<|im_", "|>", "<", ">", "<|", "<|fim_pad|>"],
    "new": ["\U00031350", "\U0002EBF0", "\U00010D50", "\U00011F50", "\U00016D70", "\U00011935",
            "\U00011930", "\U0001E4EC", "\u0897", "\U000113C2", "\U00011F04", "\U0001E4D0"],
    "rare": ["\u0000", "\u0001", "\u007f", "\ufffd", "\ue000", "\u0378", "\U00031350", "\U00011F04",
             "\U0001D400", "\u212b", "\ufb01"],
}
WEIGHTS = {"ascii_word": 8, "letters": 6, "digits": 4, "punct": 5, "space": 8, "contraction": 2,
           "mark": 2, "cjk": 3, "jamo": 1, "other_script": 2, "emoji": 2, "added": 1, "new": 1, "rare": 1}


def random_strings(n, seed=20240229):
    rng = random.Random(seed)
    names = list(POOLS)
    weights = [WEIGHTS[k] for k in names]
    out = []
    for _ in range(n):
        k = rng.randint(1, 40)
        out.append("".join(rng.choice(POOLS[rng.choices(names, weights)[0]]) for _ in range(k)))
    return out


INVALID_UTF8 = [
    b"\x80",
    b"abc\xffdef",
    b"\xfe\xff",
    b"\xc0\xaf slash overlong",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80 surrogate",
    b"\xf4\x90\x80\x80 above max",
    b"\xf5\x80",
    b"truncated 3-byte \xe2\x82",
    b"truncated 3-byte mid \xe2\x82word",
    b"truncated emoji at end \xf0\x9f\x98",
    b"\xf0\x9f\x98\xf0\x9f\x98\x80",
    b"\xc3",
    b"\xc3\xa9\xc3",
    b"<|im_start|>\xffuser\n\xc3<|im_end|>",
    b"e\xcc",
    b"\x80\x81\x82\x83 \xbf",
    "\u4e2d\u6587".encode()[:-1] + b" tail",
]


# --- A tiny tokenizer for the added-token flags and both merge spellings -------------------------

TINY_ADDED = [
    {"content": "<mask>", "lstrip": True},
    {"content": "[R]", "rstrip": True},
    {"content": "word", "single_word": True},
    {"content": "caf\u00e9", "normalized": True},
    {"content": "<|sp|>", "special": True},
    {"content": "<|sp|>long", "special": True},
]
TINY_TEXTS = [
    "I saw a <mask> here",
    "  <mask>x <mask>  <mask>",
    "[R]   next [R]\n\tend[R]",
    "a word, words, sword word_ x-word-y word",
    "caf\u00e9 cafe\u0301 CAF\u00c9 cafe",
    "<|sp|> hi<|sp|>long<|sp|>lon",
    "the theory of these things, in 1984!",
    "",
]


def tiny_tokenizer(qwen_json, n_merges=300):
    """Byte tokens plus the results of Qwen's first merges, the Qwen pipeline, and flagged tokens."""
    q = json.loads(qwen_json)
    byte_chars = [None] * 256
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    extra = 0
    for b in range(256):
        if b in printable:
            byte_chars[b] = chr(b)
        else:
            byte_chars[b] = chr(0x100 + extra)
            extra += 1
    vocab = {c: i for i, c in enumerate(byte_chars)}
    merges = []
    for a, b in (m if isinstance(m, list) else m.split(" ", 1) for m in q["model"]["merges"][:n_merges]):
        if a in vocab and b in vocab:
            merges.append(f"{a} {b}")
            vocab.setdefault(a + b, len(vocab))
    added = []
    for i, t in enumerate(TINY_ADDED):
        special = t.get("special", False)
        added.append({"id": len(vocab) + i, "content": t["content"],
                      "single_word": t.get("single_word", False), "lstrip": t.get("lstrip", False),
                      "rstrip": t.get("rstrip", False), "normalized": t.get("normalized", not special),
                      "special": special})
    model = dict(q["model"], vocab=vocab, merges=merges)
    tiny = dict(q, added_tokens=added, model=model)
    pairs = dict(tiny, model=dict(model, merges=[m.split(" ", 1) for m in merges]))
    return tiny, pairs


# --- Output ------------------------------------------------------------------------------------

def read_tokenizer_json(path):
    if path:
        return Path(path).read_text(encoding="utf-8")
    archive = ROOT / "tests/data/qwen3-tokenizer/tokenizer.json.tar.xz"
    with tarfile.open(archive) as tar:
        return tar.extractfile("tokenizer.json").read().decode("utf-8")


def segment_nfc(tok, text, added):
    """The tokenizer's normaliser (NFC with HF's Unicode tables) on each stretch between added
    tokens; the standard-library NFC agrees except on characters newer than HF's tables."""
    pattern = "|".join(re.escape(a) for a in sorted(added, key=len, reverse=True))
    pieces = re.split("(" + pattern + ")", text) if added else [text]
    return "".join(p if i % 2 else tok.normalizer.normalize_str(p) for i, p in enumerate(pieces))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", type=Path, help="tokenizer.json (default: the test archive)")
    ap.add_argument("--out", type=Path, default=ROOT / "tests/data/tokenizer")
    ap.add_argument("--random", type=int, default=600, help="number of seeded random strings")
    args = ap.parse_args()

    if tokenizers.__version__ != PINNED:
        print(f"warning: tokenizers {tokenizers.__version__}, fixtures were made with {PINNED}",
              file=sys.stderr)
    qwen_json = read_tokenizer_json(args.tokenizer)
    tok = Tokenizer.from_str(qwen_json)
    added = [t.content for t in tok.get_added_tokens_decoder().values()]

    texts = FIXED + [long_paragraph()] + random_strings(args.random)
    entries = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        nfc = segment_nfc(tok, text, added)
        decoded = tok.decode(ids, skip_special_tokens=False)
        if decoded != nfc:
            sys.exit(f"HF decode does not give back the normalised text for {text!r}")
        entries.append({"text": text, "ids": ids, "nfc": nfc})

    invalid = []
    for raw in INVALID_UTF8:
        text = raw.decode("utf-8", errors="replace")
        invalid.append({"hex": raw.hex(), "ids": tok.encode(text, add_special_tokens=False).ids})

    tiny, tiny_pairs = tiny_tokenizer(qwen_json)
    tiny_tok = Tokenizer.from_str(json.dumps(tiny))
    tiny_pairs_tok = Tokenizer.from_str(json.dumps(tiny_pairs))
    tiny_entries = []
    for text in TINY_TEXTS:
        ids = tiny_tok.encode(text, add_special_tokens=False).ids
        if tiny_pairs_tok.encode(text, add_special_tokens=False).ids != ids:
            sys.exit("the two merge spellings disagree")
        tiny_entries.append({"text": text, "ids": ids})

    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in (("tiny_tokenizer.json", tiny), ("tiny_tokenizer_pairs.json", tiny_pairs)):
        with io.open(args.out / name, "w", encoding="utf-8", newline="\n") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
    for name, data in (("qwen3_expected.json", entries), ("qwen3_invalid_utf8.json", invalid),
                       ("tiny_expected.json", tiny_entries)):
        with io.open(args.out / name, "w", encoding="utf-8", newline="\n") as f:
            f.write("[\n")
            f.write(",\n".join(json.dumps(e, ensure_ascii=False) for e in data))
            f.write("\n]\n")
    print(f"wrote {len(entries)} entries to {args.out / 'qwen3_expected.json'} and "
          f"{len(invalid)} to {args.out / 'qwen3_invalid_utf8.json'} (tokenizers {tokenizers.__version__})")


if __name__ == "__main__":
    main()
