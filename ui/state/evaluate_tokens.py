"""The reference answer token by token, for the Evaluate page's probability view (no Panel).

predictions.jsonl keeps, per reference token, its SentencePiece piece ('▁' is a space, '<0xNN>' a
byte of a character the vocabulary lacks), the model's log-probability of it and the top
alternatives. Here they become display spans: the piece as text (a run of byte pieces decoded
together into its characters), its probability, and a tooltip naming the alternatives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

SPACE = "\u2581"  # SentencePiece's word-boundary mark
_BYTE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def byte_of(piece: str) -> int | None:
    match = _BYTE.fullmatch(piece or "")
    return int(match.group(1), 16) if match else None


def _utf8_length(lead: int) -> int:
    """How many bytes the UTF-8 character starting with byte `lead` has (1 for ASCII or a stray byte)."""
    return 4 if lead >= 0xF0 else 3 if lead >= 0xE0 else 2 if lead >= 0xC0 else 1


def _continues(token: dict) -> bool:
    value = byte_of(token.get("piece", ""))
    return value is not None and 0x80 <= value < 0xC0


def piece_text(piece: str) -> str:
    """How a piece reads: spaces for '▁', a printable byte as its character, else the piece itself."""
    value = byte_of(piece)
    if value is not None:
        return chr(value) if 32 <= value < 127 or value in (9, 10) else piece
    return str(piece).replace(SPACE, " ")


def probability(log_prob) -> float:
    try:
        value = math.exp(float(log_prob))
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return min(max(value, 0.0), 1.0)


def _shown(text: str) -> str:
    """A piece in a tooltip: quoted, with line breaks and tabs visible."""
    return "‘" + text.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + "’"


def _title(pieces: Sequence[dict]) -> str:
    lines = []
    for token in pieces:
        lines.append(f"{_shown(piece_text(token.get('piece', '')))}: {probability(token.get('log_prob')):.1%}")
        for alternative in (token.get("top") or [])[:5]:
            if isinstance(alternative, list | tuple) and len(alternative) == 2:
                lines.append(f"  {_shown(piece_text(str(alternative[0])))} {probability(alternative[1]):.1%}")
    return "\n".join(lines)


def token_spans(tokens: Sequence[dict] | None) -> list[dict]:
    """[{"text", "probability", "title"}] of the reference's tokens; the byte pieces of one
    character are one span, its probability that of all its bytes together."""
    spans: list[dict] = []
    tokens = [t for t in (tokens or []) if isinstance(t, dict)]
    position = 0
    while position < len(tokens):
        token = tokens[position]
        lead = byte_of(token.get("piece", ""))
        if lead is not None:
            end = position + 1
            while end < min(len(tokens), position + _utf8_length(lead)) and _continues(tokens[end]):
                end += 1
            run = tokens[position:end]
            data = bytes(byte_of(t["piece"]) for t in run)
            text = data.decode("utf-8", errors="replace")
            log_prob = sum(float(t.get("log_prob") or 0.0) for t in run)
            spans.append({"text": text, "probability": probability(log_prob), "title": _title(run)})
            position = end
            continue
        text = piece_text(token.get("piece", ""))
        spans.append({"text": text, "probability": probability(token.get("log_prob")), "title": _title([token])})
        position += 1
    return spans


def mean_probability(spans: Sequence[dict]) -> float | None:
    return sum(s["probability"] for s in spans) / len(spans) if spans else None
