"""The Evaluate page: run an evaluation of a checkpoint, then its key figures and base-vs-tuned examples."""

from __future__ import annotations

import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter

from ui.state.evaluate import EvaluateState
from ui.views.checkpoint_picker import CheckpointPage, picker_row
from ui.views.refresh_label import labelled_refresh
from ui.views.safe_text import escape_text, text_table

POLL_MS = 500
KPI_CSS = """
.gj-kpis { display: flex; flex-wrap: wrap; gap: 8px; }
.gj-kpi { border: 1px solid rgba(128,128,128,.35); border-radius: 6px; padding: 6px 10px; min-width: 110px; flex: 1 1 110px; }
.gj-kpi-label { font-size: 0.8em; opacity: .75; }
.gj-kpi-value { font-size: 1.15em; font-weight: 600; }
"""
LOSS_COLUMNS = {"loss": 80, "base loss": 110}  # fixed and first: the numbers stay in view
TEXT_COLUMNS = ("prompt", "reference", "fine-tuned answer", "base answer")  # share the rest, wrapped
# Tabulator's "textarea" formatter escapes the text (sanitizeHTML) and wraps it, keeping line breaks;
# a long word (a path, a model's garbled output) breaks too rather than running off the cell.
TABLE_CSS = ".tabulator-cell { overflow-wrap: anywhere; }"
TABLE_FORMATTERS = {
    **{column: NumberFormatter(format="0.000") for column in LOSS_COLUMNS},
    **{column: {"type": "textarea"} for column in TEXT_COLUMNS},
}


def render_kpis(kpis: list[tuple[str, str]]) -> str:
    cards = "".join(
        f'<div class="gj-kpi"><div class="gj-kpi-label">{escape_text(label)}</div>'
        f'<div class="gj-kpi-value">{escape_text(value)}</div></div>'
        for label, value in kpis
    )
    return f'<div class="gj-kpis">{cards}</div>'


class EvaluatePage(CheckpointPage):
    def __init__(self, session, state: EvaluateState | None = None, **params):
        super().__init__(session, state or EvaluateState(session), "Evaluate", POLL_MS, **params)
        s = self.state
        split = pn.widgets.Select.from_param(s.param.split, name="Split", width=140, css_classes=["gj-evaluate-split"])
        examples = pn.widgets.IntInput.from_param(
            s.param.max_examples, name="Examples answered", width=140, css_classes=["gj-evaluate-max-examples"]
        )
        self.run_button = pn.widgets.Button(
            label="Run evaluation", color="primary", align="end", css_classes=["gj-evaluate-run"]
        )
        self.run_button.on_click(lambda _event: self._follow(s.run_evaluation()))
        self._job_widgets("evaluate")
        self.reports = pn.widgets.Select(label="Reports", options={}, width=420, css_classes=["gj-evaluate-reports"])
        self.reports.param.watch(lambda event: event.new and s.show(event.new), "value")
        self.kpis = pn.pane.HTML(
            "", stylesheets=[KPI_CSS], sizing_mode="stretch_width", css_classes=["gj-evaluate-kpis"]
        )
        self.progress_bar = pn.indicators.Progress(
            value=-1, max=100, width=220, visible=False, align="center", css_classes=["gj-evaluate-progress-bar"]
        )
        self.table = text_table(
            pd.DataFrame(),
            disabled=True,
            layout="fit_columns",
            widths=dict(LOSS_COLUMNS),
            formatters=TABLE_FORMATTERS,
            stylesheets=[TABLE_CSS],
            sizing_mode="stretch_width",
            show_index=False,
            css_classes=["gj-evaluate-examples"],
        )
        self.empty = pn.pane.Markdown(
            "No evaluation of this run yet: pick a checkpoint and a split, then Run evaluation."
        )
        s.param.watch(self._render, ["report", "reports", "running", "error"])
        s.param.watch(self._show_progress, ["fraction", "running"])
        self._render()
        self.layout = pn.Column(
            "## Evaluate",
            labelled_refresh(picker_row(s.picker, "evaluate", on_refresh=self._render)),
            pn.Row(split, examples, self.run_button),
            pn.Row(self.spinner, self.progress_bar, self.progress),
            self.error,
            self.reports,
            self.empty,
            self.kpis,
            self.table,
            sizing_mode="stretch_width",
        )

    def _show_progress(self, _event=None) -> None:
        """The bar fills with the current stage's count; without one it runs indeterminate."""
        fraction = self.state.fraction
        self.progress_bar.value = -1 if fraction is None else round(100 * fraction)
        self.progress_bar.visible = self.state.running

    def _render(self, _event=None) -> None:
        s = self.state
        self._render_job(self.run_button)
        options = s.report_options
        self.reports.options = options
        self.reports.visible = bool(options)
        if s.report and self.reports.value != s.report["path"]:
            self.reports.value = s.report["path"]
        self.empty.visible = not s.report
        self.kpis.object = render_kpis(s.kpis())
        self.table.value = pd.DataFrame(s.example_rows())
        self.table.visible = bool(s.report and s.report.get("examples"))
