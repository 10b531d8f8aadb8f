"""Train/validation/test splits: random or stratified by a label or any column, with a fixed seed.

Random splits pick round(n * fraction) examples per held-out split from one seeded
permutation; with no test split this is exactly `readers.split_examples`, so existing
runs keep their validation set. Stratified splits keep each class's share in every
split within one example of exact (per class, each split gets the floor or the
ceiling of its exact share). All splits keep file order. Augmentation happens after
splitting and only on train, so augmented copies never reach validation or test.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example

SPLITS = ("train", "validation", "test")
MISSING = "(missing)"
_MAPPING_ATTRS = ("metadata", "columns", "fields", "extra", "record")  # where readers may keep other columns


@dataclass
class Splits:
    train: list[Example]
    validation: list[Example]
    test: list[Example] = field(default_factory=list)

    def items(self) -> list[tuple[str, list[Example]]]:
        return [("train", self.train), ("validation", self.validation), ("test", self.test)]


def example_value(example: Any, by: str) -> str:
    """The value an example has for `by`: the column the reader kept for it (`Example.columns`,
    `PreferencePair.columns`), an attribute ("label", "source", "response") or a key of a mapping
    attribute; MISSING when it has none."""
    kept = getattr(example, "columns", None)
    value = dict(kept).get(by) if isinstance(kept, tuple) else None
    if value is None:
        value = getattr(example, by, None)
    if value is None:
        for attr in _MAPPING_ATTRS:
            mapping = getattr(example, attr, None)
            if isinstance(mapping, Mapping) and by in mapping:
                value = mapping[by]
                break
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return MISSING
    return str(value)


def split_sizes(n: int, validation_fraction: float, test_fraction: float = 0.0) -> tuple[int, int]:
    """(validation, test) counts: round(n * fraction), at least 1 when the fraction is above 0, train kept."""
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(
                f"data.{name} must be at least 0 and below 1; got {value}. "
                "Use e.g. 0.1 to hold out 10% of the examples, or 0 for none."
            )
    if validation_fraction + test_fraction >= 1.0:
        raise DataError(
            f"data.validation_fraction ({validation_fraction}) + data.test_fraction ({test_fraction}) "
            "leave nothing to train on; make their sum less than 1, e.g. 0.1 and 0.1."
        )
    sizes = []
    left = n - 1  # keep at least one training example
    for fraction in (validation_fraction, test_fraction):
        size = round(n * fraction)
        size = min(max(size, 1), left) if fraction > 0 and left > 0 else 0
        sizes.append(size)
        left -= size
    return sizes[0], sizes[1]


def random_split(examples: Sequence[Example], n_val: int, n_test: int, seed: int) -> Splits:
    """Held-out examples from one seeded permutation (the first n_val, then n_test); file order kept."""
    n = len(examples)
    where = np.zeros(n, dtype=np.int8)  # 0 train, 1 validation, 2 test
    order = np.random.default_rng([seed, 0x5EED]).permutation(n)
    where[order[:n_val]] = 1
    where[order[n_val : n_val + n_test]] = 2
    return Splits(*([ex for ex, w in zip(examples, where) if w == k] for k in range(3)))


def _apportion(sizes: dict[str, int], targets: list[int], rng: np.random.Generator) -> dict[str, list[int]]:
    """Per class, counts for each split that are the floor or ceiling of its exact share, with the
    split totals as close to `targets` as that allows (greedy on the remaining deficit)."""
    n = sum(sizes.values())
    shares = [t / n for t in targets]
    counts = {c: [math.floor(size * s) for s in shares] for c, size in sizes.items()}
    deficit = [t - sum(counts[c][k] for c in sizes) for k, t in enumerate(targets)]
    for c in rng.permutation(sorted(sizes)).tolist():
        extra = sizes[c] - sum(counts[c])
        remainders = [sizes[c] * s - math.floor(sizes[c] * s) for s in shares]
        candidates = [k for k in range(len(targets)) if remainders[k] > 1e-9]
        candidates.sort(key=lambda k: (-deficit[k], -remainders[k]))
        for k in candidates[:extra]:
            counts[c][k] += 1
            deficit[k] -= 1
    return counts


def stratified_split(examples: Sequence[Example], n_val: int, n_test: int, seed: int, by: str) -> Splits:
    """Split so each class of `by` is spread over the splits in proportion, within one example."""
    n = len(examples)
    if not n:
        return Splits([], [], [])
    keys = [example_value(ex, by) for ex in examples]
    if all(k == MISSING for k in keys):
        raise DataError(
            f"Cannot stratify by {by!r}: no example has a value for it. Set data.split_by to a column "
            "the data has (e.g. label), or to null for a random split."
        )
    members: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    rng = np.random.default_rng([seed, 0x57A7])
    counts = _apportion({c: len(m) for c, m in members.items()}, [n - n_val - n_test, n_val, n_test], rng)
    where = np.zeros(n, dtype=np.int8)
    for c in sorted(members):
        chosen = rng.permutation(members[c])
        _, n_c_val, n_c_test = counts[c]
        where[chosen[:n_c_val]] = 1
        where[chosen[n_c_val : n_c_val + n_c_test]] = 2
    return Splits(*([ex for ex, w in zip(examples, where) if w == k] for k in range(3)))


def split_dataset(
    examples: Sequence[Example],
    validation_fraction: float,
    test_fraction: float = 0.0,
    seed: int = 0,
    by: str | None = None,
) -> Splits:
    """Train/validation/test by fraction; `by` names a label or column to stratify on (None: random)."""
    augmented = [ex.source or str(i) for i, ex in enumerate(examples) if getattr(ex, "augmentation", "")]
    if augmented:
        raise DataError(
            f"{len(augmented)} augmented example(s) (e.g. {augmented[0]}) were given to the splitter; split "
            "first and augment only the train split, so copies never leak into validation or test."
        )
    n_val, n_test = split_sizes(len(examples), validation_fraction, test_fraction)
    if by:
        return stratified_split(examples, n_val, n_test, seed, by)
    return random_split(examples, n_val, n_test, seed)


def split_preview(splits: Splits, by: str | None = None) -> dict:
    """Each split's size, share of all examples and, with `by`, its per-class counts and shares."""
    total = sum(len(part) for _, part in splits.items())
    preview: dict[str, Any] = {"total": total, "by": by, "splits": {}}
    for name, part in splits.items():
        entry: dict[str, Any] = {
            "examples": len(part),
            "fraction": len(part) / total if total else 0.0,
            "augmented": sum(1 for ex in part if getattr(ex, "augmentation", "")),
        }
        if by:
            counts = Counter(example_value(ex, by) for ex in part)
            entry["classes"] = dict(sorted(counts.items()))
            entry["class_fractions"] = {c: k / len(part) for c, k in sorted(counts.items())} if part else {}
        preview["splits"][name] = entry
    return preview
