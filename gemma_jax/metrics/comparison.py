"""Tuned against base on one split: each metric for both models, the difference, and its 95% interval."""

from __future__ import annotations

from collections.abc import Sequence

from gemma_jax.metrics.bootstrap import corpus_difference_interval, mean_difference_interval
from gemma_jax.metrics.classification import CLASSIFICATION_METRICS, classification_scores
from gemma_jax.metrics.text import TEXT_METRICS, corpus_text_scores, example_text_scores

CORPUS_TEXT = ("bleu", "chrf")  # not the mean of per-example scores: recomputed on each resample


def _corpus(name: str, predictions: Sequence[str], references: Sequence[str], labels: Sequence[str]) -> float:
    if name in CLASSIFICATION_METRICS:
        return classification_scores(predictions, references, labels)[name]
    return corpus_text_scores(predictions, references, (name,))[name]


def compare_predictions(
    names: Sequence[str],
    tuned: Sequence[str],
    base: Sequence[str],
    references: Sequence[str],
    resamples: int = 300,
) -> dict:
    """{"tuned", "base", "delta", "interval", "per_example": [{"tuned": {...}, "base": {...}}],
    "classification": {"tuned": ..., "base": ...} when a classification metric was asked for}."""
    text = [n for n in names if n in TEXT_METRICS]
    labels = [n for n in names if n in CLASSIFICATION_METRICS]
    result: dict = {"tuned": {}, "base": {}, "delta": {}, "interval": {}, "per_example": []}
    if not references:
        return result
    per_example = [
        {"tuned": example_text_scores(t, r, text), "base": example_text_scores(b, r, text)}
        for t, b, r in zip(tuned, base, references, strict=True)
    ]
    result["per_example"] = per_example
    if text:
        result["tuned"].update(corpus_text_scores(tuned, references, text))
        result["base"].update(corpus_text_scores(base, references, text))
    if labels:
        reports = {"tuned": classification_scores(tuned, references), "base": classification_scores(base, references)}
        result["classification"] = reports
        for model in ("tuned", "base"):
            result[model].update({name: reports[model][name] for name in labels})
            for row, label in zip(per_example, reports[model]["predicted"], strict=True):
                row[model]["label"] = label
    label_set = sorted(set(references))
    for name in [*text, *labels]:
        result["delta"][name] = result["tuned"][name] - result["base"][name]
        if name in CORPUS_TEXT or name in CLASSIFICATION_METRICS:

            def difference(indices, name=name) -> float:
                picked = [references[i] for i in indices]
                tuned_score = _corpus(name, [tuned[i] for i in indices], picked, label_set)
                return tuned_score - _corpus(name, [base[i] for i in indices], picked, label_set)

            result["interval"][name] = corpus_difference_interval(difference, len(references), resamples)
        else:
            result["interval"][name] = mean_difference_interval(
                [row["tuned"][name] for row in per_example], [row["base"][name] for row in per_example]
            )
    return result
