"""Accuracy, per-class and macro/micro F1 and the confusion matrix on a crafted label set, against
scikit-learn and against counts done by hand."""

from __future__ import annotations

import pytest
from sklearn.metrics import f1_score

from gemma_jax.metrics import classification_scores, match_label
from gemma_jax.metrics.classification import OTHER, looks_like_labels
from gemma_jax.metrics.selection import choose_metrics, parse_metric_names

REFERENCES = ["positive", "positive", "negative", "negative", "neutral", "positive"]
PREDICTIONS = ["Positive.", "negative", "negative", "I think this is negative", "neutral", "it's great!"]


def test_answers_are_matched_to_labels():
    labels = ["negative", "neutral", "positive"]
    assert match_label("Positive.", labels) == "positive"
    assert match_label("negative, because ...", labels) == "negative"
    assert match_label("I think this is negative", labels) == OTHER  # not said first: not counted as right
    assert match_label("", labels) == OTHER


def test_scores_and_confusion_matrix_of_a_crafted_set():
    report = classification_scores(PREDICTIONS, REFERENCES)
    predicted = ["positive", "negative", "negative", OTHER, "neutral", OTHER]
    assert report["predicted"] == predicted
    assert report["accuracy"] == pytest.approx(3 / 6)
    labels = ["negative", "neutral", "positive"]
    assert report["macro_f1"] == pytest.approx(
        f1_score(REFERENCES, predicted, labels=labels, average="macro", zero_division=0)
    )
    assert report["micro_f1"] == pytest.approx(
        f1_score(REFERENCES, predicted, labels=labels, average="micro", zero_division=0)
    )
    # by hand: negative P=1/2 R=1/2; neutral P=1 R=1; positive P=1 R=1/3
    assert report["per_class"]["negative"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert report["per_class"]["positive"]["f1"] == pytest.approx(0.5)
    assert report["per_class"]["neutral"]["f1"] == 1.0
    assert report["labels"] == [*labels, OTHER]
    # rows: reference negative, neutral, positive, (other); columns: predicted, same order
    assert report["confusion"] == [[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 1, 1], [0, 0, 0, 0]]


def test_a_small_closed_answer_set_is_a_classification_task():
    assert looks_like_labels(REFERENCES)
    assert not looks_like_labels(["The capital of Norway is Oslo.", "Paris, of course.", "Blue"])
    assert not looks_like_labels(["same", "same"])
    assert "accuracy" in choose_metrics("", "auto", REFERENCES)
    assert "rougeL" in choose_metrics([], "prompt_response", ["a long answer here", "another long one", "x y"])
    assert choose_metrics("bleu, rouge", "auto", REFERENCES) == ("bleu", "rouge1", "rouge2", "rougeL")
    with pytest.raises(ValueError, match="unknown metric 'blue'"):
        parse_metric_names("blue")
