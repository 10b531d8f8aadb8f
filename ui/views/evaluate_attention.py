"""The Evaluate page's attention heatmap: for one of the saved hardest examples, where each token (row)
looked when the model read it, in one layer and head of the fine-tuned or the base model.

Tokens are drawn on the canvas (axis labels as PlainText, so a '$$' in a prompt is not typeset as
math) and shown in the tooltip through Bokeh's `@field`, which escapes; the example's texts are
escaped with escape_text. Nothing of a prompt is ever HTML.
"""

from __future__ import annotations

import math

import panel as pn
from bokeh.models import ColorBar, ColumnDataSource, FixedTicker, HoverTool, PlainText, Range1d
from bokeh.palettes import Viridis256
from bokeh.plotting import figure
from bokeh.transform import linear_cmap

from ui.state.evaluate import MODELS
from ui.state.evaluate_attention import AttentionState
from ui.views.safe_text import escape_text

ATTENTION_NAME = "gj-attention"  # the browser test finds the figure's view by it
MOST_TICKS = 48  # more tokens than this: every n-th is labelled (the tooltip names each)
TEXTS_CSS = ".gj-attention-texts { font-size: .9em; overflow-wrap: anywhere; }"


def attention_figure(cells: dict, labels: list[str], title: str) -> figure:
    """The heatmap: query token (rows, top to bottom) against key token (columns), coloured by weight."""
    count = len(labels)
    side = min(760, max(320, 18 * count))
    stride = max(1, math.ceil(count / MOST_TICKS))
    ticks = list(range(0, count, stride))
    source = ColumnDataSource(cells)
    highest = max(cells["weight"], default=1.0) or 1.0
    mapper = linear_cmap("weight", Viridis256, 0.0, highest)
    plot = figure(
        name=ATTENTION_NAME,
        title=title,
        x_range=Range1d(-0.5, count - 0.5),
        y_range=Range1d(count - 0.5, -0.5),  # the first token at the top, as text reads
        x_axis_label="key: the token looked at",
        y_axis_label="query: the token looking",
        width=side + 170,
        height=side + 110,
        tools="hover,box_zoom,wheel_zoom,pan,reset",
        toolbar_location="right",
        background_fill_color=Viridis256[0],  # no cell: no attention at all (a later token)
    )
    plot.rect("key", "query", 1, 1, source=source, fill_color=mapper, line_color=None)
    for axis in (plot.xaxis[0], plot.yaxis[0]):
        axis.ticker = FixedTicker(ticks=ticks)
        axis.major_label_overrides = {i: PlainText(labels[i]) for i in ticks}
        axis.major_label_text_font_size = "8pt" if count > 24 else "10pt"
    plot.xaxis.major_label_orientation = math.pi / 2
    plot.grid.visible = False
    plot.select_one(HoverTool).tooltips = [
        ("query", "#@query @query_token"),
        ("key", "#@key @key_token"),
        ("weight", "@weight{0.0000}"),
    ]
    plot.add_layout(ColorBar(color_mapper=mapper.transform, width=10, title="weight"), "right")
    return plot


def render_texts(row: dict | None) -> str:
    if row is None:
        return ""
    return (
        f'<div class="gj-attention-texts"><b>Prompt:</b> {escape_text(row["prompt"])}<br>'
        f"<b>Reference:</b> {escape_text(row['reference'])}</div>"
    )


class AttentionView(pn.viewable.Viewer):
    """Pickers for the example, the model, the layer and the head; the heatmap; or why there is none."""

    def __init__(self, state: AttentionState, **params):
        super().__init__(**params)
        self.state = s = state
        self.example = pn.widgets.Select(label="Example", options={}, width=200, css_classes=["gj-attention-example"])
        self.model = pn.widgets.RadioButtonGroup(options={}, css_classes=["gj-attention-model"], align="end")
        self.layer = pn.widgets.Select(label="Layer", options={}, width=110, css_classes=["gj-attention-layer"])
        self.head = pn.widgets.Select(label="Head", options={}, width=110, css_classes=["gj-attention-head"])
        for widget, name in ((self.example, "example"), (self.model, "model"), (self.layer, "layer")):
            widget.param.watch(lambda event, name=name: self._picked(name, event.new), "value")
        self.head.param.watch(lambda event: self._picked("head", event.new), "value")
        self.note = pn.pane.Markdown("", css_classes=["gj-attention-note"])
        self.help = pn.pane.Markdown(
            escape_text(
                "Where each token (a row) looked when the model read it: the prompt as the model saw it (chat "
                "template included), then the reference answer; long texts are cut. Brighter: more attention. "
                "Hover a cell for the two tokens and the weight."
            ),
            css_classes=["gj-attention-help"],
        )
        self.texts = pn.pane.HTML("", stylesheets=[TEXTS_CSS], sizing_mode="stretch_width")
        self.plot = pn.pane.Bokeh(None, css_classes=["gj-evaluate-attention"])
        self.pickers = pn.Row(self.example, self.model, self.layer, self.head)
        s.param.watch(self._draw, ["loaded", "layer", "head"])
        self._draw()
        self.layout = pn.Column(self.note, self.pickers, self.help, self.plot, self.texts, sizing_mode="stretch_width")

    def _picked(self, name: str, value) -> None:
        if value is not None and getattr(self.state, name) != value:
            setattr(self.state, name, value)

    def _sync_pickers(self) -> None:
        s = self.state
        self.example.options = s.example_options()
        self.example.value = s.example
        self.model.options = {MODELS[m]: m for m in s.models}
        self.model.value = s.model if s.models else None
        self.layer.options = {str(i + 1): i for i in range(s.layers)}
        self.layer.value = s.layer if s.layers else None
        self.head.options = {str(i + 1): i for i in range(s.heads)}
        self.head.value = s.head if s.heads else None

    def _draw(self, *_events) -> None:
        """Redraw (watched on several parameters: a batch of changes comes as several events)."""
        s = self.state
        self._sync_pickers()
        self.note.object = escape_text(s.note)
        self.note.visible = bool(s.note)
        shown = s.shown
        self.pickers.visible, self.help.visible = bool(s.examples), shown
        self.texts.object = render_texts(s.example_row()) if shown else ""
        if not shown:
            self.plot.object = None
            return
        title = f"Example #{s.example}, {MODELS[s.model]} model, layer {s.layer + 1}, head {s.head + 1}"
        self.plot.object = attention_figure(s.cells(), s.axis_labels(), title)

    def __panel__(self):
        return self.layout
