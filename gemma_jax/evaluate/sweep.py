"""Sensitivity: one metric of the tuned model's answers on a sample of the split at several decoding
settings (temperature, top-p), to see how much the sampling choice moves the score."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from gemma_jax.evaluate.answers import answer_prompts
from gemma_jax.evaluate.settings import EvalSettings
from gemma_jax.jobs.progress import ProgressReporter, silent
from gemma_jax.metrics import CLASSIFICATION_METRICS, classification_scores, corpus_text_scores

SWEEP_SAMPLE = 16
TEMPERATURES = (0.0, 0.3, 0.7, 1.0)
TOP_PS = (1.0, 0.9)
PREFERRED = ("rougeL", "chrf", "accuracy", "f1", "bleu", "exact_match", "macro_f1")


def sweep_metric(metrics: Sequence[str]) -> str | None:
    return next((m for m in PREFERRED if m in metrics), None)


def sweep_settings(
    generator,
    prompts: Sequence[str],
    references: Sequence[str],
    settings: EvalSettings,
    max_new_tokens: int,
    metric: str,
    progress: ProgressReporter = silent,
) -> list[dict]:
    """[{"temperature", "top_p", "metric", "value"}] on the first SWEEP_SAMPLE examples (seed fixed)."""
    prompts, references = list(prompts[:SWEEP_SAMPLE]), list(references[:SWEEP_SAMPLE])
    grid = [(t, p) for t in TEMPERATURES for p in (TOP_PS if t > 0 else (1.0,))]
    points = []
    for number, (temperature, top_p) in enumerate(grid):
        progress("sensitivity sweep", number, len(grid), unit="settings", detail=f"temperature {temperature}")
        chosen = dataclasses.replace(settings, temperature=temperature, top_p=top_p, top_k=None)
        answers = answer_prompts(generator, prompts, chosen, max_new_tokens)
        if metric in CLASSIFICATION_METRICS:
            value = classification_scores(answers, references)[metric]
        else:
            value = corpus_text_scores(answers, references, (metric,))[metric]
        points.append({"temperature": temperature, "top_p": top_p, "metric": metric, "value": value})
    return points
