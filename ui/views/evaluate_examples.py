"""The Evaluate page's per-example table (sortable, a filter under each column title, the hardest
examples first on request, narrowed to a confusion-matrix cell) and, in tabs below it, the token view
of the clicked row (the page adds the attention heatmap as a second tab)."""

from __future__ import annotations

import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter

from ui.state.evaluate import EvaluateState
from ui.views.evaluate_tokens import TOKENS_CSS, render_tokens
from ui.views.safe_text import escape_text, text_table

PAGE_SIZE = 20
# The numbers are fixed and first, so they stay in view; the texts share the rest, wrapped.
NUMBER_WIDTHS = {"#": 56, "loss": 80, "base loss": 110}
METRIC_WIDTH, LABEL_WIDTH = 100, 110
TEXT_COLUMNS = ("prompt", "reference", "fine-tuned answer", "base answer")
# Tabulator's "textarea" formatter escapes the text (sanitizeHTML) and wraps it, keeping line breaks;
# a long word (a path, a model's garbled output) breaks too rather than running off the cell.
TABLE_CSS = ".tabulator-cell { overflow-wrap: anywhere; }"
TEXT_FILTER = {"type": "input", "func": "like", "placeholder": "filter"}
NUMBER_FILTER = {"type": "number", "func": ">=", "placeholder": "≥"}


def column_settings(columns: list[str]) -> tuple[dict, dict, dict]:
    """(widths, formatters, header filters) of the table's columns."""
    widths, formatters, filters = {}, {}, {}
    for column in columns:
        if column in TEXT_COLUMNS or column in ("label", "base label"):
            formatters[column], filters[column] = {"type": "textarea"}, dict(TEXT_FILTER)
            if column in ("label", "base label"):
                widths[column] = LABEL_WIDTH
        else:
            widths[column] = NUMBER_WIDTHS.get(column, METRIC_WIDTH + (20 if column.startswith("base ") else 0))
            formatters[column] = NumberFormatter(format="0" if column == "#" else "0.000")
            filters[column] = {**NUMBER_FILTER, "func": "="} if column == "#" else dict(NUMBER_FILTER)
    return widths, formatters, filters


class ExamplesView(pn.viewable.Viewer):
    """The table of the shown report's examples and, below it, tabs: the clicked example's tokens first."""

    def __init__(self, state: EvaluateState, **params):
        super().__init__(**params)
        self.state = s = state
        self.order = pn.widgets.Select.from_param(
            s.param.order, name="Order", width=220, css_classes=["gj-evaluate-order"]
        )
        self.order_note = pn.pane.Markdown("", css_classes=["gj-evaluate-order-note"], align="end")
        self.cell_note = pn.pane.Markdown("", css_classes=["gj-evaluate-cell-note"], align="center")
        self.clear = pn.widgets.Button(
            label="Show every example", visible=False, align="center", css_classes=["gj-evaluate-clear-cell"]
        )
        self.clear.on_click(lambda _event: s.clear_cell())
        self.table = text_table(
            pd.DataFrame(),
            disabled=True,
            layout="fit_columns",
            selectable=1,
            pagination="remote",
            page_size=PAGE_SIZE,
            stylesheets=[TABLE_CSS],
            sizing_mode="stretch_width",
            show_index=False,
            css_classes=["gj-evaluate-examples"],
        )
        self.table.param.watch(self._clicked, "selection")
        self.tokens = pn.pane.HTML(
            render_tokens(None),
            stylesheets=[TOKENS_CSS],
            sizing_mode="stretch_width",
            css_classes=["gj-evaluate-tokens"],
        )
        s.param.watch(self._fill, ["rows", "order", "cell"])
        s.param.watch(self._show_tokens, ["selected", "rows"])
        self._fill()
        # dynamic: only the tab shown is in the browser (the attention heatmap is thousands of cells)
        self.details = pn.Tabs(
            ("Token probabilities", self.tokens),
            dynamic=True,
            sizing_mode="stretch_width",
            css_classes=["gj-evaluate-details"],
        )
        self.layout = pn.Column(
            pn.Row(self.order, self.order_note),
            pn.Row(self.cell_note, self.clear),
            self.table,
            self.details,
            sizing_mode="stretch_width",
        )

    def _fill(self, _event=None) -> None:
        s = self.state
        columns = s.table_columns()
        frame = pd.DataFrame(s.example_rows(), columns=columns)
        widths, formatters, filters = column_settings(columns)
        self.table.param.update(
            value=frame, widths=widths, formatters=formatters, header_filters=filters, selection=[], page=1
        )
        self.table.visible = bool(s.rows)
        self.order.visible = bool(s.rows)
        self.order_note.object = escape_text(s.hardest_note)
        self.cell_note.object = escape_text(s.cell_note)
        self.clear.visible = s.cell is not None

    def _clicked(self, event) -> None:
        frame = self.table.value
        if event.new and frame is not None and len(frame) > event.new[0]:
            self.state.select(int(frame.iloc[event.new[0]]["#"]))

    def _show_tokens(self, _event=None) -> None:
        self.tokens.object = render_tokens(self.state.selected_row())

    def __panel__(self):
        return self.layout
