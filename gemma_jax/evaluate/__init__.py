"""Evaluate a run's checkpoint against its base model on the validation or test split.

`python -m gemma_jax.evaluate RUN_DIR` writes RUN_DIR/eval/step-<N>-<split>/report.json (metrics of
both models, their difference with a 95% interval, settings, data hash) and predictions.jsonl (one
row per example: prompt, reference, both answers, per-example loss, per-metric scores, per-token
probabilities of the reference with the top alternatives). `read_reports` and `read_predictions`
read them back without importing JAX, `read_attention` the attention maps saved beside them, and
`comparison_rows` tabulates reports across runs.
"""

from gemma_jax.evaluate.attention import ATTENTION, EXAMPLES, read_attention
from gemma_jax.evaluate.compare import comparison_rows, metric_columns
from gemma_jax.evaluate.reports import (
    PREDICTIONS,
    REPORT,
    SPLITS,
    read_predictions,
    read_reports,
    report_dir,
    report_path,
)

__all__ = [
    "ATTENTION",
    "EXAMPLES",
    "PREDICTIONS",
    "REPORT",
    "SPLITS",
    "comparison_rows",
    "metric_columns",
    "read_attention",
    "read_predictions",
    "read_reports",
    "report_dir",
    "report_path",
]
