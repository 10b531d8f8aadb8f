"""What generating from one prompt produced."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Generation:
    """The continuation of one prompt: its token ids (stop token excluded) and decoded text."""

    token_ids: list[int]
    text: str
    stopped: bool  # True when the model produced <end_of_turn>/<eos>, False when it ran out of tokens
