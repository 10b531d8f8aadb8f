"""The Evaluate page: score a checkpoint against its base model, and read the reports.

`run_evaluation` starts `python -m gemma_jax.evaluate` (a separate process: it
loads the model); `poll()` on the server thread follows its output and, when it
ends, lists the reports and shows the new one or the error. While it runs, the
job's `GJ-PROGRESS` lines (gemma_jax.jobs.progress) become `progress` and
`fraction`; the rest of its output (absl and XLA chatter) is not shown.
"""

from __future__ import annotations

import time
from pathlib import Path

import param

from gemma_jax.evaluate import SPLITS, read_reports, report_path
from gemma_jax.jobs.progress import latest_progress
from ui.state.background import CheckpointJobState


def report_label(report: dict) -> str:
    return f"step {report['step']} · {report.get('split')} · eval loss {report.get('eval_loss', float('nan')):.4f}"


class EvaluateState(CheckpointJobState):
    split = param.Selector(default="validation", objects=list(SPLITS))
    max_examples = param.Integer(default=8, bounds=(0, 200), doc="prompts answered by both models")
    reports = param.List(default=[], doc="every report of the chosen run, newest step first")
    report = param.Dict(default=None, allow_None=True, doc="the report shown")
    fraction = param.Number(
        default=None, allow_None=True, bounds=(0.0, 1.0), doc="how far the current stage is; None: no count"
    )

    module = "gemma_jax.evaluate"
    noun = "evaluation"

    def __init__(self, session, clock=time.monotonic, **params):
        self._clock = clock
        self._started: float | None = None
        super().__init__(session, **params)

    def _load(self, _event=None) -> None:
        run_dir = self.picker.run_dir
        self.reports = read_reports(run_dir) if run_dir is not None else []
        self.report = self.reports[0] if self.reports else None

    def show(self, path: str) -> None:
        self.report = next((r for r in self.reports if r["path"] == path), self.report)

    def _options(self) -> list[str]:
        return ["--split", self.split, "--max-examples", str(self.max_examples)]

    def _result_path(self, run_dir: Path, step: int) -> Path:
        return report_path(run_dir, step, self.split)

    def run_evaluation(self) -> bool:
        """Start the evaluation; False (with `error` set) when it cannot start."""
        started = self._start()
        if started:
            self._started, self.fraction = self._clock(), None
        return started

    def poll(self) -> None:
        """Follow the job: while it runs, its newest progress line and the time so far; at its end, the
        base class lists the reports or shows the error."""
        job = self._job
        if job is None or job.done:
            self.fraction = None
            super().poll()
            return
        seconds = f" · {self._clock() - self._started:.0f} s" if self._started is not None else ""
        latest = latest_progress(list(job.lines))
        message = latest.message if latest else f"Starting the {self.noun}…"
        text = message[:1].upper() + message[1:] + seconds
        if text != self.progress:
            self.progress = text
        fraction = latest.fraction if latest else None
        if fraction != self.fraction:
            self.fraction = fraction

    def kpis(self) -> list[tuple[str, str]]:
        """(label, text) of the shown report's key figures."""
        r = self.report
        if not r:
            return []

        def number(key: str, spec: str) -> str:
            value = r.get(key)
            return "-" if value is None else format(value, spec)

        return [
            ("Checkpoint", f"step {r['step']}"),
            ("Split", str(r.get("split"))),
            ("Eval loss", number("eval_loss", ".4f")),
            ("Perplexity", number("perplexity", ".2f")),
            ("Base eval loss", number("base_eval_loss", ".4f")),
            ("Base perplexity", number("base_perplexity", ".2f")),
            ("Tokens", number("tokens", ",d")),
        ]

    def example_rows(self) -> list[dict]:
        """The shown report's examples as table rows, the numbers first (they stay in view; texts wrap)."""
        return [
            {
                "loss": e.get("loss"),
                "base loss": e.get("base_loss"),
                "prompt": e.get("prompt", ""),
                "reference": e.get("reference", ""),
                "fine-tuned answer": e.get("tuned_answer", ""),
                "base answer": e.get("base_answer", ""),
            }
            for e in (self.report or {}).get("examples", [])
        ]

    @property
    def report_options(self) -> dict[str, str]:
        return {report_label(r): r["path"] for r in self.reports}

    @property
    def report_file(self) -> Path | None:
        return Path(self.report["path"]) if self.report else None
