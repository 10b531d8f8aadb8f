"""The data statistics of a run (Datasets.stats) as one line a person reads in log.txt.

status.json keeps the full dictionary for programs; the log gets this sentence instead of its repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _count(stats: Mapping[str, Any], key: str) -> int:
    value = stats.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def describe_data(stats: Mapping[str, Any]) -> str:
    """E.g. "394 examples: 355 training, 39 validation; 19,235 tokens in 355 rows of 64 (85% filled),
    54 per example on average; 50 examples cut to fit 64 tokens; 45 steps per epoch"."""
    pairs = "pairs" in stats  # DPO: preference pairs rather than examples
    unit = "preference pair" if pairs else "example"
    train, validation, test = (_count(stats, f"{name}_examples") for name in ("train", "validation", "test"))
    splits = [f"{train:,} training"]
    splits += [f"{count:,} {name}" for count, name in ((validation, "validation"), (test, "test")) if count]
    total = _count(stats, "pairs" if pairs else "examples")
    parts = [f"{_plural(total, unit)}: {', '.join(splits)}"]
    augmented = _count(stats, "augmented_examples")
    if augmented:
        parts[0] += f" (training includes {augmented:,} augmented)"
    tokens, rows, length = _count(stats, "tokens"), _count(stats, "rows"), _count(stats, "sequence_length")
    filled = stats.get("packing_efficiency")
    text = f"{tokens:,} tokens in {_plural(rows, 'row')} of {length:,}"
    if isinstance(filled, (int, float)):
        text += f" ({100 * filled:.0f}% filled)"
    if train:
        text += f", {tokens / train:,.0f} per {unit} on average"
    parts.append(text)
    truncated = _count(stats, "truncated")
    if truncated:
        parts.append(f"{_plural(truncated, unit)} cut to fit {length:,} tokens")
    dropped, skipped = _count(stats, "dropped_empty"), _count(stats, "skipped_pairs")
    if dropped:
        parts.append(f"{_plural(dropped, unit)} dropped (empty after cleaning)")
    if skipped:
        parts.append(f"{_plural(skipped, unit)} skipped (too long for {length:,} tokens)")
    steps = _count(stats, "steps_per_epoch")
    if steps:
        parts.append(f"{_plural(steps, 'step')} per epoch")
    return "; ".join(parts)
