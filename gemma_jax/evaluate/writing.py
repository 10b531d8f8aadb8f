"""Evaluate a run's checkpoint and write `eval/step-<N>-<split>/`: predictions.jsonl first, then
report.json, each atomically, so a reader that finds the report also finds its rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from gemma_jax.evaluate.attention import ATTENTION, EXAMPLES, attention_arrays
from gemma_jax.evaluate.evaluation import evaluate_run
from gemma_jax.evaluate.reports import PREDICTIONS, REPORT, report_dir
from gemma_jax.evaluate.settings import EvalSettings
from gemma_jax.jobs.progress import ProgressReporter, silent
from gemma_jax.runs.files import atomic_write_json, atomic_writer


def write_rows(path: Path, rows) -> None:
    """JSON lines written to a temp file in the same folder and renamed into place."""
    with atomic_writer(path) as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def evaluate_and_write(
    checkpoint, run_dir, settings: EvalSettings, progress: ProgressReporter = silent
) -> tuple[dict, dict[str, Path]]:
    """(report, {"report": path, "predictions": path}); custom metrics are imported from the run's
    folder, then the working directory."""
    report, rows = evaluate_run(checkpoint, settings, progress, search_path=[str(run_dir), os.getcwd()])
    attention = {}
    if not report["partial"]:
        hardest = report["hardest"]["highest_loss"][:EXAMPLES]
        progress("attention maps", detail=f"{len(hardest)} hardest examples")
        attention = attention_arrays(checkpoint, rows, hardest)
    progress("writing the report")
    folder = report_dir(run_dir, checkpoint.step, settings.split)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ATTENTION).unlink(missing_ok=True)
    if attention:
        temp = folder / f".{ATTENTION}.tmp.npz"
        np.savez_compressed(temp, **attention)
        os.replace(temp, folder / ATTENTION)
        report["attention"] = {"file": ATTENTION, "examples": sorted({int(k.split("_")[1]) for k in attention})}
    where = {"report": folder / REPORT, "predictions": folder / PREDICTIONS}
    write_rows(where["predictions"], rows)
    atomic_write_json(where["report"], report)
    return report, where
