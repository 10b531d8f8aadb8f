"""Turn a rendered example into token ids plus a per-token "learn this" flag.

Gemma's vocabulary holds the chat markers (`<start_of_turn>`, `<end_of_turn>`, ...)
as user-defined pieces, which SentencePiece matches anywhere in the input. So user
text that merely mentions `<start_of_turn>` would become the real control token and
let data forge turn boundaries. By default every special marker inside user text is
encoded as plain text (the text is split inside the marker so it cannot match);
`allow_special_tokens=True` lets user text produce them, for data written that way
on purpose. The template's own markers are always real control tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gemma_jax.data.chat_template import TemplateSegment, render_segments
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example
from gemma_jax.models.tokenizer import MARKER_PATTERN, MARKER_TOKENS

LOSS_ON = ("response", "all")

SPECIAL_TOKENS = MARKER_TOKENS  # Gemma's markers (models/tokenizer.py): cut apart in user text
SPECIAL_PATTERN = MARKER_PATTERN


class Tokenizer(Protocol):
    bos_id: int

    def encode(self, text: str) -> list[int]: ...


@dataclass
class TokenizedExample:
    """`ids` starts with bos; `loss[i]` says whether token i is one the model should learn to produce."""

    ids: np.ndarray  # int32 [L]
    loss: np.ndarray  # bool [L]

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def find_special_tokens(text: str) -> list[tuple[int, str]]:
    """(offset, marker) for every special marker written in `text`."""
    return [(m.start(), m.group(1)) for m in SPECIAL_PATTERN.finditer(text)]


def encode_segment(segment: TemplateSegment, tokenizer: Tokenizer, allow_special_tokens: bool = False) -> list[int]:
    """Encode one segment in one piece, except that markers inside user text are cut apart.

    Text without markers encodes exactly as `tokenizer.encode(segment.text)`, so normal
    data tokenizes the same as before and the same as at generation time.
    """
    text = segment.text
    if allow_special_tokens or not any(
        from_user and ("<" in chunk or "[" in chunk) for chunk, from_user in segment.chunks
    ):
        return tokenizer.encode(text)  # the common case: no marker can be in the user text
    user = np.zeros(len(text) + 1, dtype=bool)
    start = 0
    for chunk, from_user in segment.chunks:
        user[start : start + len(chunk)] = from_user
        start += len(chunk)
    cuts = sorted(
        {offset + 1 for offset, marker in find_special_tokens(text) if user[offset : offset + len(marker)].any()}
    )
    if not cuts:
        return tokenizer.encode(text)
    ids: list[int] = []
    for begin, end in zip([0, *cuts], [*cuts, len(text)]):
        ids.extend(tokenizer.encode(text[begin:end]))
    return ids


def tokenize_example(
    example: Example, tokenizer: Tokenizer, loss_on: str = "response", allow_special_tokens: bool = False
) -> TokenizedExample:
    """Encode each template segment separately so the response boundary is exact."""
    if loss_on not in LOSS_ON:
        raise DataError(f"data.loss_on must be 'response' or 'all'; got {loss_on!r}.")
    ids = [tokenizer.bos_id]
    loss = [False]
    for segment in render_segments(example):
        pieces = encode_segment(segment, tokenizer, allow_special_tokens)
        ids.extend(pieces)
        loss.extend([segment.is_response or loss_on == "all"] * len(pieces))
    return TokenizedExample(np.asarray(ids, dtype=np.int32), np.asarray(loss, dtype=bool))


def tokenize_examples(
    examples: Iterable[Example], tokenizer: Tokenizer, loss_on: str = "response", allow_special_tokens: bool = False
) -> list[TokenizedExample]:
    return [tokenize_example(ex, tokenizer, loss_on, allow_special_tokens) for ex in examples]
