"""`gemma-jax evaluate --compare RUN_A RUN_B ...`: every report of several runs in one table (run,
step, split, examples, then each metric for the tuned model and its delta against the base), newest
checkpoint first within a run. No JAX import."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gemma_jax.evaluate.reports import read_reports

PREFERRED = ("loss", "perplexity", "rougeL", "chrf", "bleu", "f1", "exact_match", "accuracy", "macro_f1")


def comparison_rows(run_dirs: Sequence[str]) -> list[dict]:
    """One row per report: {"run", "step", "split", "examples", "data_hash", "tuned", "base", "delta"}."""
    rows = []
    for run_dir in run_dirs:
        if not Path(run_dir).is_dir():
            raise FileNotFoundError(f"no run directory {run_dir}")
        for report in read_reports(run_dir):
            tuned = dict(report.get("tuned") or {})
            if not tuned and "eval_loss" in report:  # an older report: loss only
                tuned = {"loss": report["eval_loss"], "perplexity": report.get("perplexity")}
            base = dict(report.get("base") or {})
            if not base and "base_eval_loss" in report:
                base = {"loss": report["base_eval_loss"], "perplexity": report.get("base_perplexity")}
            delta = report.get("delta") or {k: tuned[k] - base[k] for k in tuned if k in base and tuned[k] is not None}
            examples = (
                report["examples"] if isinstance(report.get("examples"), int) else len(report.get("examples", []))
            )
            rows.append(
                {
                    "run": Path(run_dir).name,
                    "step": report["step"],
                    "split": report.get("split"),
                    "examples": examples,
                    "data_hash": report.get("data_hash"),
                    "tuned": tuned,
                    "base": base,
                    "delta": delta,
                    "report": report["path"],
                }
            )
    return rows


def metric_columns(rows: Sequence[dict]) -> list[str]:
    seen = {name for row in rows for name in row["tuned"]}
    return [m for m in PREFERRED if m in seen] + sorted(seen - set(PREFERRED))


def comparison_table(rows: Sequence[dict]) -> str:
    """A plain-text table: each metric as `tuned (Δ vs base)`."""
    columns = metric_columns(rows)
    header = ["run", "step", "split", "examples", *columns]
    body = []
    for row in rows:
        cells = [row["run"], str(row["step"]), str(row["split"]), str(row["examples"])]
        for name in columns:
            value, delta = row["tuned"].get(name), row["delta"].get(name)
            cell = "" if value is None else f"{value:.4g}"
            cells.append(cell + (f" ({delta:+.3g})" if delta is not None and cell else ""))
        body.append(cells)
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *body]
    ]
    return "\n".join(lines)
