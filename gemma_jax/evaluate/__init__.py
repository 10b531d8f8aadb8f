"""Evaluate a run's checkpoint against its base model on the validation or test split.

`python -m gemma_jax.evaluate RUN_DIR` writes RUN_DIR/eval/step-<N>-<split>.json;
`read_reports` lists them (without importing JAX).
"""

from gemma_jax.evaluate.reports import SPLITS, read_reports, report_path

__all__ = ["SPLITS", "read_reports", "report_path"]
