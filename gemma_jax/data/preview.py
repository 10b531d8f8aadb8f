"""What the model will actually see for one example: the formatted text, every token, which carry loss.

Built from the same functions training uses (chat_template + tokenize), so the preview
cannot drift from what is trained. Special markers written inside user text are
listed, with whether they stay plain text (the default) or become control tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gemma_jax.data.chat_template import render_text
from gemma_jax.data.example import Example
from gemma_jax.data.tokenize import SPECIAL_TOKENS, Tokenizer, find_special_tokens, tokenize_example


@dataclass(frozen=True)
class PreviewToken:
    index: int
    id: int
    piece: str
    loss: bool  # the model learns to produce this token
    special: bool  # a control/marker token (<bos>, <start_of_turn>, ...)


@dataclass
class TokenPreview:
    """One example as the trainer sees it; `to_dict()` is what a UI or the CLI shows."""

    text: str
    tokens: list[PreviewToken]
    warnings: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]

    @property
    def pieces(self) -> list[str]:
        return [t.piece for t in self.tokens]

    @property
    def loss_tokens(self) -> int:
        return sum(t.loss for t in self.tokens)

    def marked_text(self, start: str = "[[", end: str = "]]") -> str:
        """The pieces joined, with each run of loss tokens wrapped in `start` ... `end`."""
        out, inside = [], False
        for token in self.tokens:
            if token.loss != inside:
                out.append(start if token.loss else end)
                inside = token.loss
            out.append(token.piece)
        if inside:
            out.append(end)
        return "".join(out)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "ids": self.ids,
            "pieces": self.pieces,
            "loss": [t.loss for t in self.tokens],
            "special": [t.special for t in self.tokens],
            "num_tokens": len(self.tokens),
            "loss_tokens": self.loss_tokens,
            "warnings": list(self.warnings),
        }


def _piece(tokenizer: Tokenizer, token_id: int) -> str:
    to_piece = getattr(tokenizer, "id_to_piece", None)
    return to_piece(token_id) if to_piece else str(token_id)


def _special_ids(tokenizer: Tokenizer) -> set[int]:
    ids = {tokenizer.bos_id}
    for name in ("eos_id", "pad_id", "start_of_turn_id", "end_of_turn_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int) and value >= 0:
            ids.add(value)
    return ids


def marker_warnings(example: Example, allow_special_tokens: bool = False) -> list[str]:
    """One line per special marker written in the example's own text, saying how it is encoded."""
    effect = "becomes a control token (allow_special_tokens is on)" if allow_special_tokens else "is kept as plain text"
    where = f"{example.source}: " if example.source else ""
    lines = []
    for number, turn in enumerate(example.turns, 1):
        for offset, marker in find_special_tokens(turn.text):
            lines.append(f"{where}turn {number} ({turn.role}) contains {marker!r} at character {offset}; it {effect}")
    return lines


def preview_example(
    example: Example, tokenizer: Tokenizer, loss_on: str = "response", allow_special_tokens: bool = False
) -> TokenPreview:
    """The formatted Gemma chat text, token ids and pieces, and the loss flag of each token."""
    tokenized = tokenize_example(example, tokenizer, loss_on, allow_special_tokens)
    special = _special_ids(tokenizer)
    tokens = []
    for index, (token_id, loss) in enumerate(zip(tokenized.ids.tolist(), tokenized.loss.tolist())):
        piece = _piece(tokenizer, token_id)
        tokens.append(PreviewToken(index, token_id, piece, bool(loss), token_id in special or piece in SPECIAL_TOKENS))
    return TokenPreview(render_text(example), tokens, marker_warnings(example, allow_special_tokens))
