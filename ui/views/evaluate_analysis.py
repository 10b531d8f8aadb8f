"""The Evaluate page's confusion matrix (a classification report: click a cell to list its examples in
the table) and its sensitivity plot (a report made with the sweep)."""

from __future__ import annotations

import panel as pn

from ui.state.evaluate import MODELS, EvaluateState
from ui.state.evaluate_report import sweep_metric
from ui.views.evaluate_plots import confusion_figure, sweep_figure
from ui.views.safe_text import escape_text


class ConfusionView(pn.viewable.Viewer):
    """A card with the shown report's confusion matrix, for the fine-tuned or the base model; hidden
    when the report has none."""

    def __init__(self, state: EvaluateState, **params):
        super().__init__(**params)
        self.state = s = state
        self.model = pn.widgets.RadioButtonGroup(
            options={label: key for key, label in MODELS.items()},
            value=s.matrix_model,
            css_classes=["gj-evaluate-matrix-model"],
        )
        self.model.param.watch(lambda event: setattr(s, "matrix_model", event.new), "value")
        self.note = pn.pane.Markdown("", css_classes=["gj-evaluate-matrix-note"])
        self.plot = pn.pane.Bokeh(None, css_classes=["gj-evaluate-confusion"])
        self.card = pn.Card(
            self.model,
            self.note,
            self.plot,
            title="Confusion matrix",
            collapsed=True,
            sizing_mode="stretch_width",
            css_classes=["gj-evaluate-matrix-card"],
        )
        s.param.watch(self._draw, ["report", "matrix_model"])
        self._draw()

    def _draw(self, _event=None) -> None:
        s = self.state
        self.model.value = s.matrix_model
        matrix = s.confusion()
        self.card.visible = matrix is not None or bool(s.report and s.report.get("classification"))
        if matrix is None:
            self.plot.object = None
            self.note.object = "No confusion matrix for this model."
            return
        accuracy = matrix.get("accuracy")
        figures = f"accuracy {accuracy:.3f}" if isinstance(accuracy, int | float) else ""
        self.note.object = escape_text(
            f"Rows: the reference label; columns: the label the {MODELS[s.matrix_model]} model answered"
            + (f" ({figures})" if figures else "")
            + ". Click a cell to list its examples in the table below."
        )
        title = f"{MODELS[s.matrix_model]} model"
        self.plot.object = confusion_figure(matrix, s.pick_cell, title)

    def __panel__(self):
        return self.card


class SweepView(pn.viewable.Viewer):
    """A card with the metric against temperature (one line per top-p); hidden without a sweep."""

    def __init__(self, state: EvaluateState, **params):
        super().__init__(**params)
        self.state = state
        self.note = pn.pane.Markdown("", css_classes=["gj-evaluate-sweep-note"])
        self.plot = pn.pane.Bokeh(None, sizing_mode="stretch_width", css_classes=["gj-evaluate-sweep"])
        self.card = pn.Card(
            self.note,
            self.plot,
            title="Sensitivity to decoding settings",
            collapsed=False,
            sizing_mode="stretch_width",
            css_classes=["gj-evaluate-sweep-card"],
        )
        state.param.watch(self._draw, "report")
        self._draw()

    def _draw(self, _event=None) -> None:
        series = self.state.sweep_series()
        self.card.visible = bool(series)
        if not series:
            self.plot.object = None
            return
        metric = sweep_metric(self.state.report) or "metric"
        self.note.object = escape_text(
            f"{metric} of the fine-tuned model on a sample of the split, answered at each temperature and "
            "top-p (same seed): a flat line means the score does not hang on the sampling choice."
        )
        self.plot.object = sweep_figure(series, metric)

    def __panel__(self):
        return self.card
