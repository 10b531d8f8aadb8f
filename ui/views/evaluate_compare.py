"""The Evaluate page's comparison of runs: pick runs, read every report of each in one table, and plot
one metric across them (gemma_jax.evaluate.compare).

The plot's pane is shown and hidden through a box around it, never its own `visible`: a Bokeh pane
copies its figure's layout properties back onto itself on any change of its own, and once the page's
design has given the drawn figure its stylesheets (Bokeh ImportedStyleSheet models, where the pane
accepts only strings) that copy raises, breaking the page's live update after an evaluation."""

from __future__ import annotations

import pandas as pd
import panel as pn

from ui.state.evaluate_compare import CompareState
from ui.views.evaluate_plots import comparison_figure
from ui.views.safe_text import escape_text, text_table

FIXED = {"run": 200, "step": 80, "split": 110, "examples": 110, "data": 100}


class CompareView(pn.viewable.Viewer):
    def __init__(self, state: CompareState, **params):
        super().__init__(**params)
        self.state = s = state
        self.runs = pn.widgets.MultiChoice.from_param(
            s.param.runs, name="Runs", placeholder="pick runs", width=420, css_classes=["gj-evaluate-compare-runs"]
        )
        self.metric = pn.widgets.Select.from_param(
            s.param.metric, name="Metric plotted", width=180, css_classes=["gj-evaluate-compare-metric"]
        )
        self.reload = pn.widgets.Button(label="Read again", align="end", width=110)
        self.reload.on_click(lambda _event: s.load())
        self.note = pn.pane.Markdown("", css_classes=["gj-evaluate-compare-note"])
        self.table = text_table(
            pd.DataFrame(),
            disabled=True,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            show_index=False,
            widths=dict(FIXED),
            css_classes=["gj-evaluate-compare-table"],
        )
        self.plot = pn.pane.Bokeh(None, sizing_mode="stretch_width", css_classes=["gj-evaluate-compare-plot"])
        self.plot_box = pn.Column(self.plot, visible=False, sizing_mode="stretch_width", margin=0)
        s.param.watch(self._render, ["rows", "metric", "error"])
        self._render()
        self.card = pn.Card(
            pn.Row(self.runs, self.metric, self.reload),
            self.note,
            self.table,
            self.plot_box,
            title="Compare runs",
            collapsed=True,
            sizing_mode="stretch_width",
            css_classes=["gj-evaluate-compare-card"],
        )

    def _render(self, _event=None) -> None:
        s = self.state
        rows = s.table_rows()
        self.table.value = pd.DataFrame(rows)
        self.table.visible = bool(rows)
        points = s.plot_points()
        self.plot.object = comparison_figure(points, s.metric, s.better) if points else None
        self.plot_box.visible = bool(points)  # never self.plot.visible: see the module's docstring
        hashes = {row.get("data_hash") for row in s.rows if row.get("data_hash")}
        notes = []
        if s.error:
            notes.append(s.error)
        if not rows:
            notes.append("None of the chosen runs has an evaluation report yet.")
        elif len(hashes) > 1:
            notes.append(
                "These reports scored different examples (see the data column): compare only those with the same data."
            )
        notes.append("Each metric is the fine-tuned model's, with its change against the base model in brackets.")
        self.note.object = "<br>".join(escape_text(note) for note in notes)

    def __panel__(self):
        return self.card
