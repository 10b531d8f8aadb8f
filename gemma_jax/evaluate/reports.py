"""Where evaluation reports live in a run directory, and reading them back (no JAX import).

`eval/step-<N>-<split>/report.json` (the metrics, settings, data hash) beside `predictions.jsonl`
(one row per example). Reports of earlier versions, `eval/step-<N>-<split>.json`, are still read."""

from __future__ import annotations

import json
from pathlib import Path

from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import EVAL_PREDICTIONS_FILE, EVAL_REPORT_FILE

SPLITS = ("validation", "test")
REPORT = EVAL_REPORT_FILE
PREDICTIONS = EVAL_PREDICTIONS_FILE


def report_dir(run_dir, step: int, split: str) -> Path:
    return RunStore(run_dir).eval_report_dir(step, split)


def report_path(run_dir, step: int, split: str) -> Path:
    return report_dir(run_dir, step, split) / REPORT


def predictions_path(report_file) -> Path:
    return Path(report_file).parent / PREDICTIONS


def _read(path: Path) -> dict | None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # being written, or damaged: the next listing will see it
    return report if isinstance(report, dict) and "step" in report else None


def read_reports(run_dir) -> list[dict]:
    """Every report of the run, newest checkpoint first; each gets "path". Unreadable files are skipped."""
    folder = RunStore(run_dir).eval_dir
    found = {}
    for path in [*folder.glob(f"step-*-*/{REPORT}"), *folder.glob("step-*-*.json")]:
        report = _read(path)
        if report is not None:
            found.setdefault((int(report["step"]), str(report.get("split"))), {**report, "path": str(path)})
    return sorted(found.values(), key=lambda r: (-int(r["step"]), str(r.get("split"))))


def read_predictions(report: dict, limit: int = 100_000) -> list[dict]:
    """The report's per-example rows (predictions.jsonl beside it; older reports kept them inside)."""
    if "path" not in report or Path(report["path"]).suffix != ".json" or Path(report["path"]).name != REPORT:
        return list(report.get("examples") or []) if isinstance(report.get("examples"), list) else []
    rows = []
    try:
        with predictions_path(report["path"]).open(encoding="utf-8") as lines:
            for line in lines:
                if len(rows) >= limit:
                    break
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash
                if isinstance(row, dict):
                    rows.append(row)
    except OSError:
        return []
    return rows
