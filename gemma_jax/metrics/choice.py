"""Multiple choice scored by log-likelihood (MMLU/HellaSwag style): the chosen answer is the choice
the model finds most likely after the question; "normalised" divides by the choice's length in
characters, as lm-evaluation-harness's acc_norm does, so long choices are not penalised."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def choice_predictions(log_likelihoods: Sequence[Sequence[float]], choices: Sequence[Sequence[str]]) -> dict:
    """The picked choice of each question, by total log-likelihood and by log-likelihood per character."""
    raw, normalized = [], []
    for scores, options in zip(log_likelihoods, choices, strict=True):
        if len(scores) != len(options) or not options:
            raise ValueError("each question needs one log-likelihood per choice")
        scores = np.asarray(scores, dtype=np.float64)
        lengths = np.asarray([max(len(option), 1) for option in options], dtype=np.float64)
        raw.append(int(np.argmax(scores)))
        normalized.append(int(np.argmax(scores / lengths)))
    return {"picked": raw, "picked_norm": normalized}


def choice_scores(
    log_likelihoods: Sequence[Sequence[float]], choices: Sequence[Sequence[str]], answers: Sequence[int]
) -> dict[str, float]:
    """{"accuracy", "accuracy_norm"} of the picked choices against the right answers' indices."""
    picked = choice_predictions(log_likelihoods, choices)
    if not answers:
        return {}
    right = np.asarray(answers)
    return {
        "accuracy": float(np.mean(np.asarray(picked["picked"]) == right)),
        "accuracy_norm": float(np.mean(np.asarray(picked["picked_norm"]) == right)),
    }
