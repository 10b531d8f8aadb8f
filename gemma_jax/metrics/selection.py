"""Which metrics a split gets: those the user named (`eval.metrics`, `--metrics`), else by task:
classification metrics for label data or answers from a small closed set, text metrics otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from gemma_jax.metrics.classification import CLASSIFICATION_METRICS, looks_like_labels
from gemma_jax.metrics.text import ROUGE_TYPES, TEXT_METRICS

LOSS_METRICS = ("loss", "perplexity")
KNOWN_METRICS = (*LOSS_METRICS, *TEXT_METRICS, *CLASSIFICATION_METRICS)
ALIASES = {"rouge": ROUGE_TYPES, "em": ("exact_match",), "rouge_l": ("rougeL",), "rougel": ("rougeL",)}


def parse_metric_names(names: Sequence[str] | str) -> tuple[str, ...]:
    """Validated metric names from a list or a comma-separated string (aliases expanded, order kept)."""
    if isinstance(names, str):
        names = [part for part in names.split(",")]
    chosen: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        expanded = ALIASES.get(name.lower(), (name,))
        for item in expanded:
            if item not in KNOWN_METRICS:
                raise ValueError(f"unknown metric {name!r}; choose from {', '.join(KNOWN_METRICS)} (or 'rouge')")
            if item not in chosen:
                chosen.append(item)
    return tuple(chosen)


def is_classification(shape: str, references: Sequence[str]) -> bool:
    return shape == "classification" or looks_like_labels(references)


def choose_metrics(requested: Sequence[str] | str, shape: str, references: Sequence[str]) -> tuple[str, ...]:
    """The metrics to compute: the requested ones, else loss and those fitting the task."""
    named = parse_metric_names(requested)
    if named:
        return named
    if is_classification(shape, references):
        return (*LOSS_METRICS, *CLASSIFICATION_METRICS)
    return (*LOSS_METRICS, *TEXT_METRICS)
