"""How likely a model finds a given continuation of a prompt, token by token, with the alternatives
it preferred: multiple-choice scoring by log-likelihood and the per-token probability view of the
evaluation read this. Uses the generator's decoder weights, so it scores exactly the model that
answers (and follows its weights as training changes them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gemma_jax.models.decoding.likelihood import POSITION_CHUNK, next_token_log_probs
from gemma_jax.models.generation import Generator


@dataclass(frozen=True)
class TokenScore:
    """One continuation token: its text, log-probability, and the model's top alternatives there."""

    token_id: int
    piece: str
    log_prob: float
    alternatives: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ContinuationScore:
    tokens: tuple[TokenScore, ...]

    @property
    def log_likelihood(self) -> float:
        return float(sum(token.log_prob for token in self.tokens))


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def score_continuations(
    generator: Generator,
    prompts: Sequence[str],
    continuations: Sequence[str | Sequence[int]],
    top_k: int = 5,
    batch_size: int = 8,
) -> list[ContinuationScore]:
    """Each continuation's tokens scored after its prompt (the prompt is text and gets <bos>, as in
    generation; a continuation is text, or token ids when it must end with a control token such as
    <end_of_turn>). Prompt+continuation longer than the generator's max_length is refused."""
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts for {len(continuations)} continuations")
    tokenizer = generator.model.tokenizer
    pairs = [
        (
            [tokenizer.bos_id, *tokenizer.encode(prompt)],
            list(tokenizer.encode(continuation)) if isinstance(continuation, str) else [int(t) for t in continuation],
        )
        for prompt, continuation in zip(prompts, continuations, strict=True)
    ]
    longest = max((len(p) + len(c) for p, c in pairs), default=0)
    if longest > generator.max_length:
        raise ValueError(
            f"a prompt with its continuation is {longest} tokens, more than the {generator.max_length} this scorer "
            "allows; shorten it or raise max_length"
        )
    results: list[ContinuationScore] = []
    for first in range(0, len(pairs), batch_size):
        results.extend(_score_batch(generator, pairs[first : first + batch_size], top_k))
    return results


def _score_batch(generator: Generator, pairs, top_k: int) -> list[ContinuationScore]:
    tokenizer = generator.model.tokenizer
    rows = [prompt + continuation for prompt, continuation in pairs]
    slots = _round_up(max(len(row) for row in rows), POSITION_CHUNK)
    # Rows end at the last slot, so every continuation lies in the last tail positions (with the
    # position that predicts its first token).
    tail = _round_up(max(len(continuation) for _, continuation in pairs) + 1, POSITION_CHUNK)
    block = np.full((len(rows), slots), tokenizer.pad_id, np.int32)
    starts = np.array([slots - len(row) for row in rows], np.int32)
    for index, row in enumerate(rows):
        block[index, starts[index] :] = row
    chosen, best, ids = next_token_log_probs(
        generator.weights.current(), block, starts, config=generator.config, top_k=top_k, tail=tail
    )
    chosen, best, ids = np.asarray(chosen), np.asarray(best), np.asarray(ids)
    scores = []
    for index, (_, continuation) in enumerate(pairs):
        first = tail - len(continuation) - 1  # the position that predicts the continuation's first token
        tokens = tuple(
            TokenScore(
                token_id=token,
                piece=tokenizer.id_to_piece(token),
                log_prob=float(chosen[index, first + offset]),
                alternatives=tuple(
                    (tokenizer.id_to_piece(int(i)), float(p))
                    for i, p in zip(ids[index, first + offset], best[index, first + offset], strict=True)
                ),
            )
            for offset, token in enumerate(continuation)
        )
        scores.append(ContinuationScore(tokens))
    return scores
