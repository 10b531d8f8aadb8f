"""Answering a whole split: many prompts per decoder call, shortest first so a batch wastes little
padding, with progress after every batch; Ctrl-C keeps the answers already made."""

from __future__ import annotations

from collections.abc import Sequence

from gemma_jax.evaluate.settings import EvalSettings
from gemma_jax.jobs.progress import ProgressReporter, silent
from gemma_jax.models.generation import Generator


def length_order(prompts: Sequence[str], tokenizer) -> list[int]:
    """Prompt indices, shortest prompt first (equal lengths keep their order)."""
    lengths = [len(tokenizer.encode(prompt)) for prompt in prompts]
    return sorted(range(len(prompts)), key=lambda index: lengths[index])


def answer_prompts(
    generator: Generator,
    prompts: Sequence[str],
    settings: EvalSettings,
    max_new_tokens: int,
    progress: ProgressReporter = silent,
    detail: str = "",
    order: Sequence[int] | None = None,
) -> list[str | None]:
    """Each prompt's answer, in the prompts' order; None for those not reached when interrupted
    (KeyboardInterrupt is re-raised after the answers so far are stored in the returned list's owner:
    see `AnsweringInterrupted`)."""
    answers: list[str | None] = [None] * len(prompts)
    order = list(order) if order is not None else length_order(prompts, generator.model.tokenizer)
    done = 0
    progress("answers", 0, len(prompts), unit="examples", detail=detail)
    try:
        for first in range(0, len(order), settings.batch_size):
            chunk = order[first : first + settings.batch_size]
            texts = generator.generate(
                [prompts[i] for i in chunk],
                max_new_tokens,
                temperature=settings.temperature,
                top_k=settings.top_k if settings.temperature > 0 else None,
                seed=settings.seed + first,
                top_p=settings.top_p,
            )
            for index, text in zip(chunk, texts, strict=True):
                answers[index] = text
            done += len(chunk)
            progress("answers", done, len(prompts), unit="examples", detail=detail)
    except KeyboardInterrupt:
        raise AnsweringInterrupted(answers) from None
    return answers


class AnsweringInterrupted(KeyboardInterrupt):
    """Ctrl-C while answering: `answers` holds what was done (None where not)."""

    def __init__(self, answers: list[str | None]):
        super().__init__("interrupted")
        self.answers = answers
