"""Evaluate a run's checkpoint against its base model on the validation or test split.

`python -m gemma_jax.evaluate RUN_DIR` writes RUN_DIR/eval/step-<N>-<split>/report.json (metrics of
both models, their difference with a 95% interval, settings, data hash) and predictions.jsonl (one
row per example: prompt, reference, both answers, per-example loss, per-metric scores, per-token
probabilities of the reference with the top alternatives). `read_reports` and `read_predictions`
read them back without importing JAX.
"""

from gemma_jax.evaluate.reports import SPLITS, read_predictions, read_reports, report_dir, report_path

__all__ = ["SPLITS", "read_predictions", "read_reports", "report_dir", "report_path"]
