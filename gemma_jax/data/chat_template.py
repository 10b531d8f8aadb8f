"""Gemma's chat template, as segments so the tokenizer can tell prompt from response.

Gemma has no system role: system text is folded into the first user turn, as the
official template does. As there, user and model text is trimmed of leading and trailing
whitespace (Jinja's `trim`, Python's `str.strip`) and system text is not, so a prompt ending in a
newline reads as transformers' `apply_chat_template` renders it. Model turns include the closing `<end_of_turn>` so the
model learns to stop. Each segment also records which of its characters came from
the example (user text) and which from the template, so the tokenizer can keep user
text that happens to contain `<start_of_turn>` from turning into a control token.
"""

from __future__ import annotations

from dataclasses import dataclass

from gemma_jax.data.example import Example
from gemma_jax.models.tokenizer import END_OF_TURN, START_OF_TURN

USER_HEADER = f"{START_OF_TURN}user\n"
MODEL_HEADER = f"{START_OF_TURN}model\n"
TURN_END = f"{END_OF_TURN}\n"

Segment = tuple[str, bool]  # (text, is_response)
Chunk = tuple[str, bool]  # (text, came from the example rather than the template)


@dataclass(frozen=True)
class TemplateSegment:
    """A run of text tokenized in one piece; `chunks` concatenate to `text`."""

    chunks: tuple[Chunk, ...]
    is_response: bool

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.chunks)


def render_segments(example: Example) -> list[TemplateSegment]:
    """The conversation as segments whose chunks mark user text apart from template text."""
    system = "\n\n".join(t.text for t in example.turns if t.role == "system")
    segments: list[TemplateSegment] = []
    for turn in example.turns:
        if turn.role == "user":
            lead = ((system, True), ("\n\n", False)) if system else ()
            system = ""
            chunks = ((USER_HEADER, False), *lead, (turn.text.strip(), True), (TURN_END, False))
            segments.append(TemplateSegment(chunks, False))
        elif turn.role == "model":
            segments.append(TemplateSegment(((MODEL_HEADER, False),), False))
            segments.append(TemplateSegment(((turn.text.strip(), True), (TURN_END, False)), True))
    return segments


def render(example: Example) -> list[Segment]:
    """Render a conversation as (text, is_response) segments whose concatenation is the prompt+answer."""
    return [(segment.text, segment.is_response) for segment in render_segments(example)]


def render_text(example: Example) -> str:
    """The whole rendered conversation as one string (for vocabularies and display)."""
    return "".join(text for text, _ in render(example))


def prompt_text(user_text: str, system: str | None = None) -> str:
    """The text to feed at generation time: one user turn, then the open model turn."""
    text = f"{system}\n\n{user_text.strip()}" if system else user_text.strip()
    return USER_HEADER + text + TURN_END + MODEL_HEADER
