"""Scores of predicted labels: accuracy, per-class and macro/micro precision, recall and F1, and the
confusion matrix (scikit-learn), for a run whose responses come from a small closed set of labels."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from gemma_jax.metrics.text import normalize_answer

CLASSIFICATION_METRICS = ("accuracy", "macro_f1", "micro_f1", "macro_precision", "macro_recall")
OTHER = "(other)"  # a prediction that is none of the labels


def match_label(prediction: str, labels: Sequence[str]) -> str:
    """The label a generated answer names: the exact label after SQuAD normalisation, else the first label
    the answer starts with, else OTHER (so a chatty answer still counts, a wrong one never does)."""
    answer = normalize_answer(prediction)
    normalized = {normalize_answer(label): label for label in labels}
    if answer in normalized:
        return normalized[answer]
    for key in sorted(normalized, key=len, reverse=True):
        if key and (answer == key or answer.startswith(key + " ")):
            return normalized[key]
    return OTHER


def classification_scores(
    predictions: Sequence[str], references: Sequence[str], labels: Sequence[str] | None = None
) -> dict:
    """Metrics of `predictions` (free text, matched to the reference labels) against `references`.

    Returns {"accuracy", "macro_f1", "micro_f1", "macro_precision", "macro_recall", "per_class":
    {label: {"precision", "recall", "f1", "support"}}, "labels", "confusion": rows=reference, cols=predicted,
    "predicted": the matched label of each prediction}. `labels` defaults to the references' set (a
    bootstrap resample passes the whole split's)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = sorted(set(references)) if labels is None else list(labels)
    predicted = [match_label(p, labels) for p in predictions]
    columns = labels + ([OTHER] if OTHER in predicted else [])
    kwargs = {"labels": labels, "zero_division": 0}
    with warnings.catch_warnings():  # a resample with one label left is scored, not warned about
        warnings.simplefilter("ignore", UserWarning)
        precision, recall, f1, support = precision_recall_fscore_support(references, predicted, **kwargs)
        macro = precision_recall_fscore_support(references, predicted, average="macro", **kwargs)
        micro = precision_recall_fscore_support(references, predicted, average="micro", **kwargs)
    return {
        "accuracy": float(accuracy_score(references, predicted)),
        "macro_f1": float(macro[2]),
        "micro_f1": float(micro[2]),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "labels": columns,
        "confusion": confusion_matrix(references, predicted, labels=columns).tolist(),
        "predicted": predicted,
    }


def looks_like_labels(references: Sequence[str], max_labels: int = 20, max_words: int = 4) -> bool:
    """A split whose answers come from a small closed set of short strings is a classification task."""
    distinct = set(references)
    return (
        len(references) >= 2
        and 1 < len(distinct) <= min(max_labels, max(2, len(references) // 2))
        and all(0 < len(label.split()) <= max_words for label in distinct)
    )
