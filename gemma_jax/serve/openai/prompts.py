"""Token ids of a request's prompt, as `gemma-jax generate` would build them.

Chat messages go through training's chat template (data/chat_template.py): system and developer
messages are folded into the first user turn, as Gemma's own template does, and the open model turn
follows. Markers such as `<start_of_turn>` inside message text are encoded as plain text, never as
control tokens, so a client cannot forge turns (data/tokenize.py cuts them apart). Without markers
the ids equal `tokenizer.encode(prompt_text(...))`, the ids `gemma-jax generate` feeds.
A completions prompt is raw text, encoded as is (as `gemma-jax generate --raw`).
"""

from __future__ import annotations

from gemma_jax.data.chat_template import MODEL_HEADER, TemplateSegment, render_segments
from gemma_jax.data.example import Example, Turn
from gemma_jax.data.tokenize import encode_segment
from gemma_jax.models.tokenizer import GemmaTextTokenizer
from gemma_jax.serve.openai.protocol import GenerationRequest, Message


def chat_prompt_ids(messages: tuple[Message, ...], tokenizer: GemmaTextTokenizer) -> list[int]:
    """<bos>, the conversation in the chat template, and the open model turn."""
    example = Example(tuple(Turn(m.role, m.text) for m in messages))
    chunks = [chunk for segment in render_segments(example) for chunk in segment.chunks]
    whole = TemplateSegment((*chunks, (MODEL_HEADER, False)), is_response=False)
    return [tokenizer.bos_id, *encode_segment(whole, tokenizer)]


def prompt_ids(request: GenerationRequest, tokenizer: GemmaTextTokenizer) -> list[int]:
    """The ids the decoder reads for `request` (starting with <bos>)."""
    if request.prompt is not None:
        return [tokenizer.bos_id, *tokenizer.encode(request.prompt)]
    return chat_prompt_ids(request.messages, tokenizer)
