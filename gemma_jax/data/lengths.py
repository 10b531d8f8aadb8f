"""Sequence-length analysis: how long the examples are, what a sequence length would cut, how well they pack.

Lengths count tokens including <bos>. An example of L tokens needs L-1 row positions
(inputs ids[:-1], targets ids[1:]), so it fits a row of S positions when L <= S+1;
that is the rule packing.py uses, and every number here follows it.

Truncation modes, for examples longer than S+1 tokens:
- right: keep the start, cut the end (the response may lose its ending);
- left: keep <bos> and the last S tokens (the prompt may lose its start);
- keep_response: cut the prompt from the left so the response survives whole; only a
  response that alone is too long is cut, on the right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gemma_jax.data.errors import DataError
from gemma_jax.data.packing import assign_rows, occupied_positions
from gemma_jax.data.tokenize import TokenizedExample

TRUNCATION_MODES = ("right", "left", "keep_response")
PERCENTILES = (50, 90, 95, 99)
LENGTH_MULTIPLE = 64


def check_truncation(mode: str) -> None:
    if mode not in TRUNCATION_MODES:
        raise DataError(f"data.truncation must be one of {', '.join(TRUNCATION_MODES)}; got {mode!r}.")


def truncate(example: TokenizedExample, max_tokens: int, mode: str = "right") -> TokenizedExample:
    """`example` cut to at most `max_tokens` tokens (<bos> kept); shorter examples are returned as is."""
    check_truncation(mode)
    if max_tokens < 2:
        raise DataError(f"Cannot truncate to {max_tokens} tokens; keep at least 2 (<bos> and one token).")
    n = len(example)
    if n <= max_tokens:
        return example
    ids, loss = example.ids, example.loss
    if mode == "right":
        keep = np.arange(max_tokens)
    elif mode == "left":
        keep = np.concatenate([[0], np.arange(n - max_tokens + 1, n)])
    else:
        flagged = np.flatnonzero(loss[1:])
        start = int(flagged[0]) + 1 if flagged.size else n  # first response token
        budget = max_tokens - 1
        response = np.arange(start, n)[:budget]
        room = budget - len(response)  # what is left for the end of the prompt
        prompt = np.arange(max(1, start - room), start) if room > 0 else np.arange(0)
        keep = np.concatenate([[0], prompt, response])
    keep = keep.astype(np.int64)
    return TokenizedExample(ids[keep], loss[keep])


def truncate_examples(
    examples: Sequence[TokenizedExample], sequence_length: int, mode: str = "right"
) -> list[TokenizedExample]:
    """Every example cut to fit a row of `sequence_length` positions (sequence_length + 1 tokens)."""
    check_truncation(mode)
    return [truncate(ex, sequence_length + 1, mode) for ex in examples]


@dataclass
class TruncationStats:
    """What a sequence length cuts: examples, tokens, and loss (response) tokens among them."""

    mode: str
    examples_cut: int = 0
    tokens_cut: int = 0
    loss_tokens_cut: int = 0
    responses_emptied: int = 0  # examples that had loss tokens and keep none

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "examples_cut": self.examples_cut,
            "tokens_cut": self.tokens_cut,
            "loss_tokens_cut": self.loss_tokens_cut,
            "responses_emptied": self.responses_emptied,
        }


def truncation_stats(
    examples: Sequence[TokenizedExample], sequence_length: int, mode: str = "right"
) -> TruncationStats:
    stats = TruncationStats(mode)
    for example in examples:
        if len(example) <= sequence_length + 1:
            continue
        cut = truncate(example, sequence_length + 1, mode)
        before, after = int(example.loss[1:].sum()), int(cut.loss[1:].sum())
        stats.examples_cut += 1
        stats.tokens_cut += len(example) - len(cut)
        stats.loss_tokens_cut += before - after
        stats.responses_emptied += int(before > 0 and after == 0)
    return stats


def packing_efficiency(lengths: Sequence[int], sequence_length: int, packing: bool = True, seed: int = 0) -> float:
    """Non-padding fraction of the rows packing.py's first-fit packer builds (one shuffled epoch)."""
    used = [occupied_positions(n, sequence_length) for n in lengths]
    order = np.random.default_rng([seed, 0]).permutation(len(used))
    used = [used[i] for i in order if used[i] > 0]
    if not used:
        return 0.0
    rows = max(assign_rows(used, sequence_length, packing)) + 1
    return sum(used) / (rows * sequence_length)


def suggest_sequence_length(
    lengths: Sequence[int], context_length: int | None = None, percentile: float = 95, multiple: int = LENGTH_MULTIPLE
) -> int:
    """The `percentile` of row positions needed, rounded up to `multiple`, capped at the model context."""
    if not len(lengths):
        return multiple
    needed = float(np.percentile(np.maximum(np.asarray(lengths) - 1, 1), percentile, method="higher"))
    suggestion = max(multiple, math.ceil(needed / multiple) * multiple)
    return min(suggestion, context_length) if context_length else suggestion


@dataclass
class LengthReport:
    """Everything a UI shows about lengths; `to_dict()` is JSON-ready."""

    count: int
    sequence_length: int
    bin_edges: list[float]
    bin_counts: list[int]
    percentiles: dict[str, int]
    mean: float
    suggested_sequence_length: int
    truncation: TruncationStats
    packing_efficiency: float
    padding_efficiency: float  # the same rows without packing: one example per row
    fits: int = 0  # examples that fit sequence_length without a cut
    loss_lengths: dict[str, int] = field(default_factory=dict)  # percentiles of loss tokens per example

    def to_dict(self) -> dict:
        return {
            "count": self.count,
            "sequence_length": self.sequence_length,
            "histogram": {"bin_edges": self.bin_edges, "counts": self.bin_counts},
            "percentiles": dict(self.percentiles),
            "mean": self.mean,
            "suggested_sequence_length": self.suggested_sequence_length,
            "truncation": self.truncation.to_dict(),
            "packing_efficiency": self.packing_efficiency,
            "padding_efficiency": self.padding_efficiency,
            "fits": self.fits,
            "loss_lengths": dict(self.loss_lengths),
        }


def _percentiles(values: np.ndarray) -> dict[str, int]:
    if not values.size:
        return {**{f"p{p}": 0 for p in PERCENTILES}, "max": 0}
    out = {f"p{p}": int(np.percentile(values, p, method="higher")) for p in PERCENTILES}
    out["max"] = int(values.max())
    return out


def length_report(
    examples: Sequence[TokenizedExample],
    sequence_length: int,
    *,
    context_length: int | None = None,
    truncation: str = "right",
    bins: int = 20,
    seed: int = 0,
) -> LengthReport:
    """Histogram, percentiles, a suggested sequence length, truncation cuts and packing efficiency."""
    check_truncation(truncation)
    if sequence_length < 1:
        raise DataError(f"sequence_length must be at least 1; got {sequence_length}.")
    lengths = np.asarray([len(ex) for ex in examples], dtype=np.int64)
    loss = np.asarray([int(ex.loss.sum()) for ex in examples], dtype=np.int64)
    if lengths.size:
        counts, edges = np.histogram(lengths, bins=max(1, min(bins, int(np.ptp(lengths)) + 1)))
    else:
        counts, edges = np.zeros(0, np.int64), np.zeros(0)
    kept = [min(int(n), sequence_length + 1) for n in lengths]
    return LengthReport(
        count=int(lengths.size),
        sequence_length=sequence_length,
        bin_edges=[float(e) for e in edges],
        bin_counts=[int(c) for c in counts],
        percentiles=_percentiles(lengths),
        mean=float(lengths.mean()) if lengths.size else 0.0,
        suggested_sequence_length=suggest_sequence_length(lengths.tolist(), context_length),
        truncation=truncation_stats(examples, sequence_length, truncation),
        packing_efficiency=packing_efficiency(kept, sequence_length, True, seed),
        padding_efficiency=packing_efficiency(kept, sequence_length, False, seed),
        fits=int((lengths <= sequence_length + 1).sum()),
        loss_lengths=_percentiles(loss),
    )
