#!/usr/bin/env python3
"""Render conversations with Qwen3's official chat_template (jinja2, as transformers' apply_chat_template
renders it) into tests/data/chat/messages.json: the referee of engine/chat.cpp's chat_prompt().

    python3 -m pip install jinja2      # no torch, no transformers
    python3 scripts/make_chat_fixtures.py PATH/TO/tokenizer_config.json tests/data/chat/messages.json
"""
import json
import sys

import jinja2

CASES = [
    [{"role": "user", "content": "Hello"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."}],
    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "and 3+3?"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "q1"},
     {"role": "assistant", "content": "<think>\nsome reasoning\n</think>\n\nanswer one"},
     {"role": "system", "content": "a later system turn"}, {"role": "user", "content": "q2 <|im_end|> typed"}],
    [{"role": "user", "content": "multi\nline\n"}, {"role": "assistant", "content": "no think tags"},
     {"role": "user", "content": "<tool_response>\nx\n</tool_response>"}, {"role": "user", "content": ""}],
]

def main(config_path, out_path):
    template = json.load(open(config_path))["chat_template"]
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    t = env.from_string(template)
    out = []
    for messages in CASES:
        for no_think in (False, True):
            kw = {"enable_thinking": False} if no_think else {}
            text = t.render(messages=messages, add_generation_prompt=True, tools=None, **kw)
            out.append({"messages": messages, "no_think": no_think, "rendered": text})
    json.dump(out, open(out_path, "w"), indent=1, ensure_ascii=False)
    print(f"wrote {len(out)} renderings to {out_path}")

if __name__ == "__main__":
    main(*sys.argv[1:3])
