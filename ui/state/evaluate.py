"""The Evaluate page: score a checkpoint against its base model, and read the reports.

`run_evaluation` starts `python -m gemma_jax.evaluate` (a separate process: it
loads the model); `poll()` on the server thread follows its output and, when it
ends, lists the reports and shows the new one or the error.
"""

from __future__ import annotations

import os
from pathlib import Path

import param

from gemma_jax.evaluate import SPLITS, read_reports, report_path
from ui.state.background import BackgroundCommand
from ui.state.checkpoint_picker import CheckpointPicker


def job_environment(session) -> dict[str, str]:
    """The environment for a side process: the one the server was started with (the server itself is
    CPU-only; jobs are not), on the CPU while a job holds this host's TPU (JobRunner.side_process_env)."""
    runner = session.runner
    return runner.side_process_env() if runner is not None else dict(os.environ)


def report_label(report: dict) -> str:
    return f"step {report['step']} · {report.get('split')} · eval loss {report.get('eval_loss', float('nan')):.4f}"


class EvaluateState(param.Parameterized):
    split = param.Selector(default="validation", objects=list(SPLITS))
    max_examples = param.Integer(default=8, bounds=(0, 200), doc="prompts answered by both models")
    running = param.Boolean(default=False)
    progress = param.String(default="")
    error = param.String(default="")
    reports = param.List(default=[], doc="every report of the chosen run, newest step first")
    report = param.Dict(default=None, allow_None=True, doc="the report shown")

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self.picker = CheckpointPicker(session)
        self._job: BackgroundCommand | None = None
        self.picker.param.watch(self._load_reports, "run")
        self._load_reports()

    def _load_reports(self, _event=None) -> None:
        run_dir = self.picker.run_dir
        self.reports = read_reports(run_dir) if run_dir is not None else []
        self.report = self.reports[0] if self.reports else None

    def show(self, path: str) -> None:
        self.report = next((r for r in self.reports if r["path"] == path), self.report)

    def run_evaluation(self) -> bool:
        """Start the evaluation; False (with `error` set) when it cannot start."""
        if self.running:
            return False
        problem = self.picker.problem()
        if problem:
            self.error = problem
            return False
        self.error, self.progress, self.running = "", "Starting the evaluation…", True
        args = [*self.picker.arguments(), "--split", self.split, "--max-examples", str(self.max_examples)]
        self._job = BackgroundCommand("gemma_jax.evaluate", args, env=job_environment(self.session))
        return True

    def poll(self) -> None:
        """Follow the running evaluation (server thread)."""
        job = self._job
        if job is None:
            return
        if not job.done:
            line = job.last_line()
            if line and line != self.progress:
                self.progress = line
            return
        self._job, self.running = None, False
        if job.returncode == 0:
            self.progress = "Evaluation finished."
            self._load_reports()
            step = self.picker.resolved_step
            if step is not None:
                self.show(str(report_path(self.picker.run_dir, step, self.split)))
            self.session.notify(f"Evaluation of {self.picker.run} finished", "success")
        else:
            self.progress = ""
            self.error = f"The evaluation failed: {job.error_message()}"

    def wait(self, timeout: float | None = None) -> None:
        if self._job is not None:
            self._job.wait(timeout)
        self.poll()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

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
        """The shown report's examples as table rows."""
        return [
            {
                "prompt": e.get("prompt", ""),
                "reference": e.get("reference", ""),
                "fine-tuned answer": e.get("tuned_answer", ""),
                "base answer": e.get("base_answer", ""),
                "loss": e.get("loss"),
                "base loss": e.get("base_loss"),
            }
            for e in (self.report or {}).get("examples", [])
        ]

    @property
    def report_options(self) -> dict[str, str]:
        return {report_label(r): r["path"] for r in self.reports}

    @property
    def report_file(self) -> Path | None:
        return Path(self.report["path"]) if self.report else None
