"""The chat template exports carry (tokenizer_config.json and GGUF metadata), one Jinja text for both.

It renders exactly what gemma_jax.data.chat_template renders for training and serving: every
system message, joined by a blank line and untrimmed (a list of parts joined as written), leads
the first user turn; user and assistant (or "model") text is trimmed, as Gemma's official template
does: a string whole, a list of parts part by part, the trimmed parts then joined; each turn is closed by
`<end_of_turn>` and a newline. Only constructs both transformers' Jinja and llama.cpp's minja
implement are used (namespace, filtered for loops, `trim`), so one text serves both runtimes.
"""

from __future__ import annotations

import json

from gemma_jax.data.chat_template import MODEL_HEADER, TURN_END, USER_HEADER


def _literal(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Jinja string literal


def _text(part_filter: str) -> str:
    """A message's text: a string, or its text parts, each through `part_filter`, joined (image parts
    have no text to render)."""
    return (
        "{%- set ns.text = '' -%}"
        "{%- if message['content'] is string -%}{%- set ns.text = message['content'] -%}"
        "{%- else -%}"
        "{%- for item in message['content'] if item['type'] == 'text' -%}"
        f"{{%- set ns.text = ns.text + (item['text']{part_filter}) -%}}"
        "{%- endfor -%}"
        "{%- endif -%}"
    )


CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- set ns = namespace(system='', text='') -%}"
    "{%- for message in messages if message['role'] == 'system' -%}"
    f"{_text('')}"
    "{%- set ns.system = ns.system + ('\\n\\n' if ns.system else '') + ns.text -%}"
    "{%- endfor -%}"
    "{%- for message in messages if message['role'] != 'system' -%}"
    f"{_text(' | trim')}"
    "{%- if message['role'] == 'user' -%}"
    f"{{{{ {_literal(USER_HEADER)} }}}}"
    "{%- if ns.system -%}{{ ns.system + '\\n\\n' }}{%- set ns.system = '' -%}{%- endif -%}"
    "{%- else -%}"
    f"{{{{ {_literal(MODEL_HEADER)} }}}}"
    "{%- endif -%}"
    f"{{{{ (ns.text | trim) + {_literal(TURN_END)} }}}}"
    "{%- endfor -%}"
    f"{{%- if add_generation_prompt -%}}{{{{ {_literal(MODEL_HEADER)} }}}}{{%- endif -%}}"
)
