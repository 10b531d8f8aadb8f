"""The Evaluate page: score a checkpoint against its base model, and read the reports.

`run_evaluation` starts `python -m gemma_jax.evaluate` (a separate process: it loads the model) with
the page's split, example cap, metrics, temperature and sweep; `poll()` on the server thread follows
its output and, when it ends, lists the reports and shows the new one or the error. While it runs,
the job's `GJ-PROGRESS` lines (gemma_jax.jobs.progress) become `progress` and `fraction`; the rest of
its output (absl and XLA chatter) is not shown.

A shown report brings its per-example rows (predictions.jsonl, or an older report's own list): the
table lists them in the order picked (the hardest first), narrowed to one confusion-matrix cell when
one is picked; one selected example's reference tokens show with their probabilities, and the
attention maps saved for the hardest examples (ui.state.evaluate_attention). What is shown of a
report is computed in ui.state.evaluate_report (multiple choice: ui.state.evaluate_choice); comparing
runs is ui.state.evaluate_compare. The report's two files are offered as plain download links on the
server's download route (ui/downloads.py), never bytes through the websocket.
"""

from __future__ import annotations

import time
from pathlib import Path

import param

from gemma_jax.config import ConfigError
from gemma_jax.evaluate import SPLITS, read_predictions, read_reports, report_path
from gemma_jax.jobs.progress import latest_progress
from gemma_jax.metrics.selection import KNOWN_METRICS
from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import EVAL_PREDICTIONS_FILE, EVAL_REPORT_FILE
from ui.downloads import REPORT_FILES, download_url
from ui.state import evaluate_report as shown
from ui.state.background import CheckpointJobState
from ui.state.evaluate_attention import AttentionState
from ui.state.evaluate_choice import choice_cards, choice_facts
from ui.state.evaluate_compare import CompareState
from ui.state.export import format_size

MODELS = {"tuned": "fine-tuned", "base": "base"}


def report_label(report: dict) -> str:
    tuned, _base, _delta, _interval = shown.model_metrics(report)
    loss = tuned.get("loss")
    figure = f"eval loss {loss:.4f}" if isinstance(loss, int | float) else f"{shown.example_count(report)} examples"
    partial = " · partial" if report.get("partial") else ""
    return f"step {report['step']} · {report.get('split')} · {figure}{partial}"


def run_splits(run_dir: Path) -> list[str]:
    """The splits the run's data has: "test" only with a test file or a test fraction (a run without one
    would fail to build it after loading its model). Every split when the config cannot be read."""
    try:
        data = RunStore(run_dir).config().data
    except (ConfigError, OSError):  # a damaged config: the job itself says what is wrong
        return list(SPLITS)
    has_test = bool(data.test_path) or (isinstance(data.test_fraction, int | float) and data.test_fraction > 0)
    return [split for split in SPLITS if split != "test" or has_test]


class EvaluateState(CheckpointJobState):
    split = param.Selector(default="validation", objects=list(SPLITS))
    max_examples = param.Integer(default=0, bounds=(0, None), doc="answer at most this many; 0: the whole split")
    metrics = param.ListSelector(default=[], objects=list(KNOWN_METRICS), doc="[]: chosen by the data")
    temperature = param.Number(default=0.0, bounds=(0.0, 2.0), step=0.05, doc="0: greedy")
    sweep = param.Boolean(default=False, doc="also answer a sample at several temperatures and top-p")

    reports = param.List(default=[], doc="every report of the chosen run, newest step first")
    report = param.Dict(default=None, allow_None=True, doc="the report shown")
    rows = param.List(default=[], doc="the shown report's per-example rows (evaluate_report.normal_row)")
    order = param.Selector(default="As evaluated", objects=list(shown.ORDERS), doc="which examples come first")
    matrix_model = param.Selector(default="tuned", objects=list(MODELS), doc="whose confusion matrix is shown")
    cell = param.Tuple(default=None, allow_None=True, length=3, doc="(model, reference, predicted): the filter")
    selected = param.Integer(default=None, allow_None=True, doc="the example whose tokens are shown")

    module = "gemma_jax.evaluate"
    noun = "evaluation"

    def __init__(self, session, clock=time.monotonic, **params):
        self._clock = clock
        self._started: float | None = None
        self.compare = CompareState(session)
        self.attention = AttentionState()
        super().__init__(session, **params)
        self.param.watch(self._read_rows, "report")
        self.param.watch(lambda event: self.attention.show_example(event.new), "selected")
        self._read_rows()

    # -- the reports -------------------------------------------------------------------------------

    def _load(self, _event=None) -> None:
        run_dir = self.picker.run_dir
        splits = run_splits(run_dir) if run_dir is not None else list(SPLITS)
        self.param.split.objects = splits
        if self.split not in splits:
            self.split = splits[0]
        self.reports = read_reports(run_dir) if run_dir is not None else []
        self.report = self.reports[0] if self.reports else None
        self.compare.offer(list(self.picker.param.run.objects), self.picker.run)

    def show(self, path: str) -> None:
        self.report = next((r for r in self.reports if r["path"] == path), self.report)

    def _read_rows(self, _event=None) -> None:
        report = self.report
        raw = read_predictions(report) if report else []
        self.cell, self.selected = None, None
        self.rows = [shown.normal_row(row, position) for position, row in enumerate(raw) if isinstance(row, dict)]
        self.attention.load(report, self.rows)

    # -- the job -----------------------------------------------------------------------------------

    def _options(self) -> list[str]:
        options = ["--split", self.split]
        if self.max_examples:
            options += ["--max-examples", str(self.max_examples)]
        if self.metrics:
            options += ["--metrics", ",".join(self.metrics)]
        if self.temperature:
            options += ["--temperature", f"{self.temperature:g}"]
        if self.sweep:
            options.append("--sweep")
        return options

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

    # -- what the page shows -----------------------------------------------------------------------

    def kpis(self) -> list[tuple[str, str]]:
        """(label, text) of what the shown report covers."""
        r = self.report
        if not r:
            return []
        count, total = shown.example_count(r), r.get("total_examples")
        examples = f"{count:,d}" + (f" of {total:,d}" if isinstance(total, int) and total != count else "")
        items = [("Checkpoint", f"step {r['step']}"), ("Split", str(r.get("split"))), ("Examples", examples)]
        if r.get("tokens") is not None:
            items.append(("Loss tokens", f"{r['tokens']:,d}"))
        decoding = shown.settings_text(r)
        if decoding:
            items.append(("Answers", decoding))
        return items

    def cards(self) -> list[dict]:
        return shown.metric_cards(self.report)

    def choice_cards(self) -> list[dict]:
        """Multiple-choice accuracy and length-normalised accuracy, fine-tuned against base ([]: none)."""
        return choice_cards(self.report)

    def choice_facts(self) -> list[tuple[str, str]]:
        return choice_facts(self.report)

    @property
    def partial(self) -> bool:
        return bool(self.report and self.report.get("partial"))

    @property
    def custom_errors(self) -> dict[str, str]:
        errors = (self.report or {}).get("custom_errors") or {}
        return {str(spec): str(message) for spec, message in errors.items()}

    @property
    def metric(self) -> str | None:
        """The per-example score shown for each model in the table."""
        return shown.main_metric(self.report, self.rows)

    @property
    def labelled(self) -> bool:
        return shown.has_labels(self.rows)

    def table_columns(self) -> list[str]:
        return shown.table_columns(self.metric, self.labelled)

    def listed(self) -> list[dict]:
        """The rows the table lists: in the chosen order, narrowed to the picked confusion cell."""
        rows = shown.ordered(self.rows, self.report, shown.ORDERS[self.order])
        if self.cell:
            model, reference, predicted = self.cell
            rows = [r for r in rows if shown.in_cell(r, model, reference, predicted)]
        return rows

    def example_rows(self) -> list[dict]:
        """The listed rows as table rows, the numbers first (they stay in view; texts wrap)."""
        metric, labelled = self.metric, self.labelled
        return [shown.table_row(row, metric, labelled) for row in self.listed()]

    @property
    def hardest_note(self) -> str:
        order = shown.ORDERS[self.order]
        if not order or not self.report:
            return ""
        count = shown.hardest_count(self.report, order)
        if count:
            return f"The {count} examples of this list come first."
        if order == "highest_loss" and self.rows:
            return "Ranked by the rows' own losses."
        return "This report lists none: every example is shown in its order."

    def confusion(self) -> dict | None:
        return shown.confusion(self.report, self.matrix_model)

    def pick_cell(self, reference: str, predicted: str) -> None:
        """Show only the examples in this cell of the shown matrix (a misclassification)."""
        self.cell = (self.matrix_model, reference, predicted)

    def clear_cell(self) -> None:
        self.cell = None

    @property
    def cell_note(self) -> str:
        if not self.cell:
            return ""
        model, reference, predicted = self.cell
        count = len(self.listed())
        return (
            f"Showing {count} example{'s' if count != 1 else ''} whose reference is “{reference}” and "
            f"that the {MODELS[model]} model answered as “{predicted}”."
        )

    def select(self, index: int | None) -> None:
        """Show the tokens of example `index` (its "#")."""
        self.selected = index

    def selected_row(self) -> dict | None:
        if self.selected is None:
            return None
        return next((r for r in self.rows if r["index"] == self.selected), None)

    def sweep_series(self) -> dict[float, list[tuple[float, float]]]:
        return shown.sweep_series(self.report)

    @property
    def report_options(self) -> dict[str, str]:
        return {report_label(r): r["path"] for r in self.reports}

    @property
    def report_file(self) -> Path | None:
        return Path(self.report["path"]) if self.report else None

    @property
    def predictions_file(self) -> Path | None:
        path = self.report_file
        if path is None or path.name != EVAL_REPORT_FILE:
            return None  # an older report keeps its rows inside
        return path.parent / EVAL_PREDICTIONS_FILE

    def downloads(self) -> list[dict]:
        """A link per file of the shown report (report.json, predictions.jsonl): name, size, URL on the
        download route, and where it is on the server (relative to the workspace behind a login)."""
        run, run_dir = self.picker.run, self.picker.run_dir
        links = []
        for path in (self.report_file, self.predictions_file):
            if path is None or run is None or run_dir is None or path.name not in REPORT_FILES:
                continue
            try:
                relative, size = path.relative_to(run_dir).as_posix(), path.stat().st_size
            except (ValueError, OSError):  # not this run's (never), or deleted meanwhile
                continue
            links.append(
                {
                    "name": path.name,
                    "size": format_size(size),
                    "url": download_url(run, relative),
                    "server_path": self.session.confinement.shown(path),
                }
            )
        return links
