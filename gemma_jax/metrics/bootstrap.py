"""How sure a tuned-minus-base difference is: a paired bootstrap 95% interval (scipy.stats.bootstrap),
resampling examples, so both models are always scored on the same resampled split."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Interval = tuple[float, float]


def mean_difference_interval(
    tuned: Sequence[float], base: Sequence[float], resamples: int = 2000, seed: int = 0
) -> Interval | None:
    """95% interval of mean(tuned) - mean(base) over paired per-example scores; None below 2 examples."""
    from scipy.stats import bootstrap

    tuned_scores, base_scores = np.asarray(tuned, dtype=np.float64), np.asarray(base, dtype=np.float64)
    if len(tuned_scores) < 2:
        return None
    difference = tuned_scores - base_scores
    if np.all(difference == difference[0]):
        return float(difference[0]), float(difference[0])
    result = bootstrap(
        (difference,),
        np.mean,
        paired=True,
        n_resamples=resamples,
        confidence_level=0.95,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def corpus_difference_interval(
    score: Callable[[Sequence[int]], float],
    count: int,
    resamples: int = 300,
    seed: int = 0,
) -> Interval | None:
    """95% interval of a corpus-level difference (BLEU, chrF, F1 over a label set) that `score(indices)`
    recomputes on a resample of the examples; None below 2 examples."""
    from scipy.stats import bootstrap

    if count < 2:
        return None
    indices = np.arange(count)
    values = [score(indices)]

    def statistic(sample: np.ndarray) -> float:
        return score(sample.astype(int))

    result = bootstrap(
        (indices,),
        statistic,
        vectorized=False,
        n_resamples=resamples,
        confidence_level=0.95,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval.low, result.confidence_interval.high
    if not np.isfinite(low) or not np.isfinite(high):  # every resample equal: no spread
        return values[0], values[0]
    return float(low), float(high)
