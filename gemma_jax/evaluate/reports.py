"""Where evaluation reports live in a run directory, and reading them back (no JAX import)."""

from __future__ import annotations

import json
from pathlib import Path

SPLITS = ("validation", "test")


def report_path(run_dir, step: int, split: str) -> Path:
    return Path(run_dir) / "eval" / f"step-{step}-{split}.json"


def read_reports(run_dir) -> list[dict]:
    """Every report of the run, newest checkpoint first; each gets "path". Unreadable files are skipped."""
    reports = []
    for path in (Path(run_dir) / "eval").glob("step-*-*.json"):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being written, or damaged: the next listing will see it
        if isinstance(report, dict) and "step" in report:
            reports.append({**report, "path": str(path)})
    return sorted(reports, key=lambda r: (-int(r["step"]), str(r.get("split"))))
