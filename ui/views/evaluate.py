"""The Evaluate page: run an evaluation of a checkpoint, then read its report: download links for its
files, metric cards (multiple choice in a section of its own), the per-example table with each
example's token probabilities and the attention heatmaps of the hardest examples, the confusion
matrix and the sensitivity plot when the report has them, and a comparison of runs. The parts are in
ui/views/evaluate_*.py."""

from __future__ import annotations

import html

import panel as pn

from gemma_jax.runs.schema import EVAL_PREDICTIONS_FILE, EVAL_REPORT_FILE
from ui.state.evaluate import EvaluateState
from ui.views.checkbox import checkbox_for
from ui.views.checkpoint_picker import CheckpointPage, picker_row
from ui.views.evaluate_analysis import ConfusionView, SweepView
from ui.views.evaluate_attention import AttentionView
from ui.views.evaluate_cards import CARDS_CSS, render_choice, render_kpis, render_summary
from ui.views.evaluate_compare import CompareView
from ui.views.evaluate_examples import ExamplesView
from ui.views.safe_text import code_text, escape_text

__all__ = ["EvaluatePage", "render_kpis"]

POLL_MS = 500
WRAP = {"flex_wrap": "wrap", "gap": "4px 16px", "align_items": "flex-end"}
FILE_LABELS = {EVAL_REPORT_FILE: "the report", EVAL_PREDICTIONS_FILE: "the per-example rows"}
LINKS_CSS = """
.gj-evaluate-files { display: flex; flex-wrap: wrap; gap: 2px 24px; font-size: .9em; }
.gj-evaluate-file a { font-weight: 600; }
.gj-evaluate-file-where { font-size: .85em; opacity: .8; }
"""


def render_downloads(links: list[dict]) -> str:
    """One `<a href download>` per report file, with where it is on the server; every text escaped."""
    items = "".join(
        f'<div class="gj-evaluate-file"><a class="gj-evaluate-download" href="{html.escape(link["url"], quote=True)}" '
        f'download="{html.escape(link["name"], quote=True)}">Download {escape_text(FILE_LABELS.get(link["name"], ""))}: '
        f"{escape_text(link['name'])}</a> ({escape_text(link['size'])})"
        f'<div class="gj-evaluate-file-where">On the server: {code_text(link["server_path"])}</div></div>'
        for link in links
    )
    return f'<div class="gj-evaluate-files">{items}</div>' if items else ""


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
            checkbox_for(s, "sweep", "Sensitivity sweep (a sample at several temperatures)", ["gj-evaluate-sweep"]),
        ]
        self.run_button = pn.widgets.Button(label="Run evaluation", color="primary", css_classes=["gj-evaluate-run"])
        self.run_button.on_click(lambda _event: self._follow(s.run_evaluation()))
        self._job_widgets("evaluate")
        self.reports = pn.widgets.Select(label="Reports", options={}, width=460, css_classes=["gj-evaluate-reports"])
        self.reports.param.watch(lambda event: event.new and s.show(event.new), "value")
        self.where = pn.pane.HTML(
            "", stylesheets=[LINKS_CSS], sizing_mode="stretch_width", css_classes=["gj-evaluate-where"]
        )
        self.summary = pn.pane.HTML(
            "", stylesheets=[CARDS_CSS], sizing_mode="stretch_width", css_classes=["gj-evaluate-kpis"]
        )
        self.choice = pn.pane.HTML(
            "", stylesheets=[CARDS_CSS], sizing_mode="stretch_width", css_classes=["gj-evaluate-choice"]
        )
        self.progress_bar = pn.indicators.Progress(
            value=-1, max=100, width=220, visible=False, align="center", css_classes=["gj-evaluate-progress-bar"]
        )
        self.examples = ExamplesView(s)
        self.attention = AttentionView(s.attention)
        self.examples.details.append(("Attention", self.attention))
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
            picker_row(s.picker, "evaluate", on_refresh=self._render),
            pn.FlexBox(*controls, self.run_button, **WRAP, sizing_mode="stretch_width"),
            pn.Row(self.spinner, self.progress_bar, self.progress),
            self.error,
            self.reports,
            self.where,
            self.empty,
            self.summary,
            self.choice,
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
        """Download links for the report's files and where they are on the server; an older report (one
        file, its rows inside) is not on the download route: its place on the server only."""
        s = self.state
        links = s.downloads()
        if links or s.report_file is None:
            return render_downloads(links)
        where = self.session.confinement.shown(s.report_file)
        return f'<div class="gj-evaluate-file-where">Report on the server: {code_text(where)}</div>'

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
        self.choice.object = render_choice(s.choice_facts(), s.choice_cards())
        self.choice.visible = bool(self.choice.object)
        if s.report and not s.rows:
            self.summary.object += f"<p>{escape_text('This report has no per-example rows.')}</p>"
