"""Renders Crucible's bundled chat templates and mergekit 0.1.5's of the same names on the
same conversations, in transformers' Jinja environment, and prints per name whether every
rendering is identical, identical but for whitespace, and identical on every conversation
rendered without a generation prompt.

Usage: render_chat_templates.py CRUCIBLE_TEMPLATE_DIR   (a python with mergekit and jinja2)
"""
import importlib.resources
import json
import os
import re
import sys

from jinja2.sandbox import ImmutableSandboxedEnvironment

from mergekit._data import chat_templates

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)


def raise_exception(message):
    raise ValueError(message)


env.globals["raise_exception"] = raise_exception

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": " Hello there \n"},
     {"role": "assistant", "content": "Hi!  "}],
    [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "u1"},
     {"role": "user_context", "content": "ctx"}, {"role": "assistant", "content": "a1"}],
    [{"role": "assistant", "content": "first"}, {"role": "user", "content": "second"}],
]


def render(source):
    template = env.from_string(source)
    out = []
    for conversation in CONVERSATIONS:
        for prompt in (False, True):
            try:
                text = template.render(messages=conversation, add_generation_prompt=prompt,
                                       bos_token="<s>", eos_token="</s>")
            except ValueError as error:
                text = "error: " + str(error)
            out.append((prompt, text))
    return out


report = {}
for name in sorted(os.listdir(sys.argv[1])):
    theirs = render(importlib.resources.files(chat_templates).joinpath(name).read_text())
    ours = render(open(os.path.join(sys.argv[1], name), encoding="utf-8").read())
    squeeze = lambda s: re.sub(r"\s+", "", s)
    report[name.removesuffix(".jinja")] = {
        "identical": ours == theirs,
        "identical_but_whitespace": all(squeeze(a[1]) == squeeze(b[1]) for a, b in zip(ours, theirs)),
        "identical_without_generation_prompt": all(a == b for a, b in zip(ours, theirs) if not a[0]),
    }
print(json.dumps(report))
