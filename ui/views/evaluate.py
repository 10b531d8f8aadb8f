"""The Evaluate page: run an evaluation of a checkpoint, then read its report: metric cards, the
per-example table with each example's token probabilities, the confusion matrix and the sensitivity
plot when the report has them, and a comparison of runs. The parts are in ui/views/evaluate_*.py."""

from __future__ import annotations

import panel as pn

from ui.state.evaluate import EvaluateState
from ui.views.checkpoint_picker import CheckpointPage, picker_row
from ui.views.evaluate_analysis import ConfusionView, SweepView
from ui.views.evaluate_cards import CARDS_CSS, render_kpis, render_summary
from ui.views.evaluate_compare import CompareView
from ui.views.evaluate_examples import ExamplesView
from ui.views.refresh_label import labelled_refresh
from ui.views.safe_text import code_text, escape_text

__all__ = ["EvaluatePage", "render_kpis"]

POLL_MS = 500
WRAP = {"flex_wrap": "wrap", "gap": "4px 16px", "align_items": "flex-end"}


class EvaluatePage(CheckpointPage):
    def __init__(self, session, state: EvaluateState | None = None, **params):
        super().__init__(session, state or EvaluateState(session), "Evaluate", POLL_MS, **params)
        s = self.state
        controls = [
            pn.widgets.Select.from_param(s.param.split, name="Split", width=130, css_classes=["gj-evaluate-split"]),
            pn.widgets.IntInput.from_param(
                s.param.max_examples,
                name="Examples (0 = whole split)",
                width=170,
                css_classes=["gj-evaluate-max-examples"],
            ),
            pn.widgets.MultiChoice.from_param(
                s.param.metrics,
                name="Metrics",
                placeholder="chosen by the data",
                width=300,
                css_classes=["gj-evaluate-metrics"],
            ),
            pn.widgets.FloatInput.from_param(
                s.param.temperature,
                name="Temperature (0 = greedy)",
                width=170,
                css_classes=["gj-evaluate-temperature"],
            ),
            pn.widgets.Checkbox.from_param(
                s.param.sweep,
                name="Sensitivity sweep (a sample at several temperatures)",
                css_classes=["gj-evaluate-sweep"],
            ),
        ]
        self.run_button = pn.widgets.Button(label="Run evaluation", color="primary", css_classes=["gj-evaluate-run"])
        self.run_button.on_click(lambda _event: self._follow(s.run_evaluation()))
        self._job_widgets("evaluate")
        self.reports = pn.widgets.Select(label="Reports", options={}, width=460, css_classes=["gj-evaluate-reports"])
        self.reports.param.watch(lambda event: event.new and s.show(event.new), "value")
        self.where = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["gj-evaluate-where"])
        self.summary = pn.pane.HTML(
            "", stylesheets=[CARDS_CSS], sizing_mode="stretch_width", css_classes=["gj-evaluate-kpis"]
        )
        self.progress_bar = pn.indicators.Progress(
            value=-1, max=100, width=220, visible=False, align="center", css_classes=["gj-evaluate-progress-bar"]
        )
        self.examples = ExamplesView(s)
        self.confusion = ConfusionView(s)
        self.sweep = SweepView(s)
        self.compare = CompareView(s.compare)
        self.empty = pn.pane.Markdown(
            "No evaluation of this run yet: pick a checkpoint and a split, then Run evaluation."
        )
        s.param.watch(self._render, ["report", "reports", "running", "error"])
        s.param.watch(self._show_progress, ["fraction", "running"])
        self._render()
        self.layout = pn.Column(
            "## Evaluate",
            labelled_refresh(picker_row(s.picker, "evaluate", on_refresh=self._render)),
            pn.FlexBox(*controls, self.run_button, **WRAP, sizing_mode="stretch_width"),
            pn.Row(self.spinner, self.progress_bar, self.progress),
            self.error,
            self.reports,
            self.where,
            self.empty,
            self.summary,
            self.sweep,
            self.confusion,
            self.examples,
            self.compare,
            sizing_mode="stretch_width",
        )

    @property
    def table(self) -> pn.widgets.Tabulator:
        return self.examples.table

    def _show_progress(self, _event=None) -> None:
        """The bar fills with the current stage's count; without one it runs indeterminate."""
        fraction = self.state.fraction
        self.progress_bar.value = -1 if fraction is None else round(100 * fraction)
        self.progress_bar.visible = self.state.running

    def _where(self) -> str:
        """Where the report is on the server (the download route serves export folders only)."""
        s = self.state
        if s.report_file is None:
            return ""
        redact = self.session.confinement.redact
        text = f"Report: {code_text(redact(str(s.report_file)))}"
        if s.predictions_file is not None:
            text += f" · per-example rows: {code_text(redact(str(s.predictions_file)))}"
        return f'<div class="gj-evaluate-where" style="font-size: .85em; opacity: .85">{text}</div>'

    def _render(self, _event=None) -> None:
        s = self.state
        self._render_job(self.run_button)
        options = s.report_options
        self.reports.options = options
        self.reports.visible = bool(options)
        if s.report and self.reports.value != s.report["path"]:
            self.reports.value = s.report["path"]
        self.empty.visible = not s.report
        self.where.object = self._where()
        self.summary.object = render_summary(s.kpis(), s.cards(), s.partial, s.custom_errors)
        if s.report and not s.rows:
            self.summary.object += f"<p>{escape_text('This report has no per-example rows.')}</p>"
