"""The parts of a Qwen3 tokenizer that every tokenizer this project trains shares with Qwen3's own:
the normalizer, pre-tokenizer, post-processor and decoder sections of tokenizer.json, the BPE model
options, the chat template and tokenizer_config.json's layout. Imported by scripts/make_fixtures.py
(the test fixtures' 384-token tokenizer) and scripts/train_default_model.py (the default model's
4096-token one), so both stay in Qwen3's format from one source. Only vocab, merges and added tokens
are the callers' own.
"""

import json

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

# ---------------------------------------------------------------------------
# Tokenizer sections copied verbatim from Qwen3's tokenizer.json (Qwen/Qwen3-*,
# Apache-2.0).
# ---------------------------------------------------------------------------
QWEN3_NORMALIZER = {"type": "NFC"}
QWEN3_PRE_TOKENIZER = {
    "type": "Sequence",
    "pretokenizers": [
        {
            "type": "Split",
            "pattern": {
                "Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
            },
            "behavior": "Isolated",
            "invert": False,
        },
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
    ],
}
QWEN3_POST_PROCESSOR = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
QWEN3_DECODER = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
QWEN3_BPE_OPTIONS = {
    "type": "BPE",
    "dropout": None,
    "unk_token": None,
    "continuing_subword_prefix": "",
    "end_of_word_suffix": "",
    "fuse_unk": False,
    "byte_fallback": False,
    "ignore_merges": False,
}

# The added tokens of these small tokenizers, (content, special) in Qwen3's order; Qwen3 marks
# <think>/</think> "special": false.
ADDED_TOKENS = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<think>", False),
    ("</think>", False),
]

# Qwen3's chat template, verbatim from Qwen3-0.6B's tokenizer_config.json (Apache-2.0).
QWEN3_CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"""


def bytes_to_unicode():
    """GPT-2's byte -> printable character table, in its id order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]

def token_id(tok_json: dict, content: str) -> int:
    for a in tok_json["added_tokens"]:
        if a["content"] == content:
            return a["id"]
    raise KeyError(content)

def tokenizer_config(tok_json: dict, model_max_length: int) -> dict:
    """tokenizer_config.json in Qwen3's format (same keys and chat template)."""
    decoder = {}
    for a in tok_json["added_tokens"]:
        decoder[str(a["id"])] = {
            "content": a["content"],
            "lstrip": a["lstrip"],
            "normalized": a["normalized"],
            "rstrip": a["rstrip"],
            "single_word": a["single_word"],
            "special": a["special"],
        }
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": decoder,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": QWEN3_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": model_max_length,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def assemble_tokenizer_json(merges: list) -> dict:
    """tokenizer.json in Qwen3's layout from trained BPE merges: ids are the 256 bytes in GPT-2's
    order, then one per merge, then ADDED_TOKENS (Qwen3 numbers its vocabulary the same way)."""
    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode())}
    for a, b in merges:
        assert a in vocab and b in vocab, (a, b)
        assert a + b not in vocab, a + b
        vocab[a + b] = len(vocab)
    added = [
        {
            "id": len(vocab) + i,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": special,
        }
        for i, (content, special) in enumerate(ADDED_TOKENS)
    ]
    model = dict(QWEN3_BPE_OPTIONS)
    model["vocab"] = vocab
    model["merges"] = merges
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": QWEN3_NORMALIZER,
        "pre_tokenizer": QWEN3_PRE_TOKENIZER,
        "post_processor": QWEN3_POST_PROCESSOR,
        "decoder": QWEN3_DECODER,
        "model": model,
    }


def train_qwen3_bpe(texts: list, vocab_total: int):
    """Trains a byte-level BPE of vocab_total entries (256 bytes + merges + ADDED_TOKENS) on texts.
    Returns (tokenizer.json dict in Qwen3's layout, the trained tokenizers.Tokenizer before renumbering),
    so callers can check that renumbering changed no split."""
    n_merges = vocab_total - 256 - len(ADDED_TOKENS)
    assert n_merges > 0
    # Build the pipeline from Qwen3's JSON so that training splits text exactly as the final
    # tokenizer will.
    skeleton = json.loads(Tokenizer(models.BPE()).to_str())
    skeleton["normalizer"] = QWEN3_NORMALIZER
    skeleton["pre_tokenizer"] = QWEN3_PRE_TOKENIZER
    skeleton["decoder"] = QWEN3_DECODER
    tok = Tokenizer.from_str(json.dumps(skeleton))
    trainer = trainers.BpeTrainer(
        vocab_size=256 + n_merges,
        min_frequency=2,
        show_progress=False,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    trained = json.loads(tok.to_str())
    merges = [m.split(" ") if isinstance(m, str) else list(m) for m in trained["model"]["merges"]]
    assert len(merges) == n_merges, (len(merges), n_merges)
    assert set(bytes_to_unicode()) == set(pre_tokenizers.ByteLevel.alphabet())
    out = assemble_tokenizer_json(merges)
    assert out["added_tokens"][-1]["id"] == vocab_total - 1
    return out, tok


def check_renumbering(out: dict, trained, split_samples: list, roundtrip_samples: list = ()):
    """Renumbering must not change how text splits (split_samples, no special tokens: the trained
    tokenizer has none), and every sample, special tokens included, must decode back to itself."""
    final = Tokenizer.from_str(json.dumps(out))
    for sample in split_samples:
        assert final.encode(sample).tokens == trained.encode(sample).tokens
    for sample in list(split_samples) + list(roundtrip_samples):
        assert final.decode(final.encode(sample).ids, skip_special_tokens=False) == sample, sample[:40]

