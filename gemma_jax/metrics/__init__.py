"""Task metrics for evaluation: text (BLEU, chrF, ROUGE, exact match, token F1), classification
(accuracy, F1, confusion matrix), multiple choice by log-likelihood, custom metrics, and paired
bootstrap intervals for tuned-vs-base differences. Pure functions of predictions: no JAX import."""

from gemma_jax.metrics.bootstrap import corpus_difference_interval, mean_difference_interval
from gemma_jax.metrics.choice import choice_predictions, choice_scores
from gemma_jax.metrics.classification import CLASSIFICATION_METRICS, classification_scores, match_label
from gemma_jax.metrics.comparison import compare_predictions
from gemma_jax.metrics.custom import CustomMetricError, custom_scores, load_metric
from gemma_jax.metrics.selection import KNOWN_METRICS, choose_metrics, parse_metric_names
from gemma_jax.metrics.text import TEXT_METRICS, corpus_text_scores, example_text_scores, normalize_answer

__all__ = [
    "CLASSIFICATION_METRICS",
    "KNOWN_METRICS",
    "TEXT_METRICS",
    "CustomMetricError",
    "choice_predictions",
    "choice_scores",
    "choose_metrics",
    "classification_scores",
    "compare_predictions",
    "corpus_difference_interval",
    "corpus_text_scores",
    "custom_scores",
    "example_text_scores",
    "load_metric",
    "match_label",
    "mean_difference_interval",
    "normalize_answer",
    "parse_metric_names",
]
