"""Comparing runs on the Evaluate page: every report of the chosen runs (gemma_jax.evaluate.compare),
one metric picked for the plot (no Panel).

Only the workspace's own runs can be chosen (the checkpoint picker's list); their folders are
resolved through the session's confinement like every other run path.
"""

from __future__ import annotations

import param

from gemma_jax.evaluate import comparison_rows, metric_columns
from ui.confinement import ConfinementError
from ui.state.evaluate_report import direction, format_delta, format_value


class CompareState(param.Parameterized):
    runs = param.ListSelector(default=[], objects=[], doc="the runs whose reports are compared")
    metric = param.Selector(default=None, objects=[], allow_None=True, doc="the metric plotted across reports")
    rows = param.List(default=[], doc="comparison_rows of the chosen runs")
    error = param.String(default="")

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self.param.watch(self.load, "runs")

    def offer(self, run_ids: list[str], current: str | None) -> None:
        """The runs one may pick (the workspace's); the current run is chosen when nothing is."""
        self.param.runs.objects = list(run_ids)
        kept = [r for r in self.runs if r in run_ids]
        if not kept and current in run_ids:
            kept = [current]
        if kept != self.runs:
            self.runs = kept
        else:
            self.load()

    def load(self, _event=None) -> None:
        """Read every report of the chosen runs again."""
        folders, problems = [], []
        for run_id in self.runs:
            try:
                folders.append(str(self.session.confinement.run_dir(run_id)))
            except ConfinementError as err:
                problems.append(str(err))
        try:
            rows = comparison_rows(folders)
        except (OSError, ValueError) as err:  # a run deleted meanwhile
            rows, problems = [], [*problems, str(err)]
        self.error = "; ".join(problems)
        columns = metric_columns(rows)
        self.param.metric.objects = columns
        if self.metric not in columns:
            self.metric = columns[0] if columns else None
        self.rows = rows

    @property
    def columns(self) -> list[str]:
        return metric_columns(self.rows)

    def table_rows(self) -> list[dict]:
        """One row per report: run, step, split, examples, data (short hash), then each metric as
        `tuned (Δ vs base)`."""
        table = []
        for row in self.rows:
            line = {
                "run": row["run"],
                "step": row["step"],
                "split": str(row["split"]),
                "examples": row["examples"],
                "data": (row.get("data_hash") or "").removeprefix("sha256:")[:8],
            }
            for name in self.columns:
                value, delta = row["tuned"].get(name), row["delta"].get(name)
                text = "" if value is None else format_value(name, value)
                line[name] = text + (f" ({format_delta(name, delta)})" if text and delta is not None else "")
            table.append(line)
        return table

    def plot_points(self) -> list[dict]:
        """[{"label", "tuned", "base"}] of the chosen metric, one per report that has it, oldest step first
        within each run."""
        name = self.metric
        if name is None:
            return []
        points = []
        for row in sorted(self.rows, key=lambda r: (r["run"], int(r["step"]), str(r["split"]))):
            if row["tuned"].get(name) is None:
                continue
            points.append(
                {
                    "label": f"{row['run']} · step {row['step']} · {row['split']}",
                    "tuned": float(row["tuned"][name]),
                    "base": None if row["base"].get(name) is None else float(row["base"][name]),
                }
            )
        return points

    @property
    def better(self) -> str:
        sign = direction(self.metric or "")
        return {1: "higher is better", -1: "lower is better"}.get(sign, "neither higher nor lower is better")
