"""The Evaluate page's Bokeh figures: the confusion matrix (a heatmap whose cells can be clicked), the
sensitivity sweep (metric against temperature, a line per top-p) and one metric across reports of
several runs. Labels and run names are drawn on the canvas or shown in tooltips through Bokeh's
`@field` (escaped), never as HTML."""

from __future__ import annotations

from collections.abc import Callable

from bokeh.models import ColumnDataSource, FactorRange, HoverTool, TapTool
from bokeh.palettes import Blues256, Category10_10
from bokeh.plotting import figure
from bokeh.transform import linear_cmap

HEIGHT = 320
CONFUSION_NAME = "gj-confusion"  # the browser test finds the figure's view by it
MAX_LABEL = 24  # characters of a class label on an axis; the tooltip has it whole


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _axis_factors(labels: list[str]) -> list[str]:
    """Shortened labels, still distinct (Bokeh's categorical axes need unique factors)."""
    factors, seen = [], set()
    for label in labels:
        short = _short(label) or "(empty)"
        while short in seen:
            short += "\u200b"
        seen.add(short)
        factors.append(short)
    return factors


def confusion_figure(matrix: dict, on_pick: Callable[[str, str], None], title: str) -> figure:
    """The confusion matrix (rows: reference label, columns: predicted), each cell's count and its share
    of the row; clicking a cell calls on_pick(reference, predicted)."""
    labels = matrix["labels"]
    counts = matrix["matrix"]
    columns = _axis_factors(labels)
    rows = columns[: len(counts)]
    data: dict[str, list] = {"x": [], "y": [], "reference": [], "predicted": [], "count": [], "share": [], "ink": []}
    for r, row in enumerate(counts):
        total = sum(row) or 1
        for c, count in enumerate(row):
            share = count / total
            data["x"].append(columns[c])
            data["y"].append(rows[r])
            data["reference"].append(labels[r])
            data["predicted"].append(labels[c])
            data["count"].append(count)
            data["share"].append(share)
            data["ink"].append("#ffffff" if share > 0.55 else "#111111")
    source = ColumnDataSource(data)
    size = max(260, min(560, 60 * len(columns) + 120))
    plot = figure(
        name=CONFUSION_NAME,
        title=title,
        x_range=FactorRange(*columns),
        y_range=FactorRange(*reversed(rows)),
        x_axis_label="predicted",
        y_axis_label="reference",
        width=size + 60,
        height=size,
        tools="tap,reset",
        toolbar_location=None,
    )
    plot.rect(
        "x",
        "y",
        1,
        1,
        source=source,
        fill_color=linear_cmap("share", list(reversed(Blues256)), 0, 1),
        line_color="#888888",
        selection_line_color="#cf222e",
        selection_line_width=3,
        nonselection_fill_alpha=0.7,
    )
    plot.text(
        "x",
        "y",
        text="count",
        source=source,
        text_align="center",
        text_baseline="middle",
        color="ink",
        nonselection_text_alpha=1.0,  # the counts stay readable around a picked cell
    )
    plot.add_tools(
        HoverTool(
            tooltips=[("reference", "@reference"), ("predicted", "@predicted"), ("examples", "@count")],
        )
    )
    plot.select_one(TapTool).behavior = "select"
    plot.xaxis.major_label_orientation = 0.6 if len(columns) > 4 else 0.0
    plot.grid.visible = False

    def picked(_attr, _old, new) -> None:
        if new:
            index = new[0]
            on_pick(data["reference"][index], data["predicted"][index])

    source.selected.on_change("indices", picked)
    return plot


def sweep_figure(series: dict[float, list[tuple[float, float]]], metric: str) -> figure:
    """The metric against temperature, a line per top-p."""
    plot = figure(
        title=f"{metric} of the fine-tuned model's answers at other decoding settings",
        x_axis_label="temperature",
        y_axis_label=metric,
        height=HEIGHT,
        sizing_mode="stretch_width",
        tools="hover,reset",
        toolbar_location=None,
    )
    for number, (top_p, points) in enumerate(series.items()):
        source = ColumnDataSource({"temperature": [p[0] for p in points], "value": [p[1] for p in points]})
        colour = Category10_10[number % 10]
        plot.line("temperature", "value", source=source, color=colour, line_width=2, legend_label=f"top-p {top_p:g}")
        plot.scatter("temperature", "value", source=source, color=colour, size=8, legend_label=f"top-p {top_p:g}")
    plot.select_one(HoverTool).tooltips = [("temperature", "@temperature"), (metric, "@value{0.0000}")]
    plot.legend.location = "bottom_left"
    return plot


def comparison_figure(points: list[dict], metric: str, note: str) -> figure:
    """The metric of each report (bars: fine-tuned; dots: base)."""
    factors = _axis_factors([p["label"] for p in points])
    tuned = ColumnDataSource(
        {"x": factors, "value": [p["tuned"] for p in points], "label": [p["label"] for p in points]}
    )
    base_points = [(f, p) for f, p in zip(factors, points, strict=True) if p["base"] is not None]
    base = ColumnDataSource(
        {
            "x": [f for f, _ in base_points],
            "value": [p["base"] for _, p in base_points],
            "label": [p["label"] for _, p in base_points],
        }
    )
    plot = figure(
        title=f"{metric} by report" + (f" ({note})" if note else ""),
        x_range=FactorRange(*factors),
        height=HEIGHT,
        sizing_mode="stretch_width",
        tools="hover,reset",
        toolbar_location=None,
    )
    plot.vbar("x", top="value", width=0.7, source=tuned, color="#0969da", alpha=0.8, legend_label="fine-tuned")
    plot.scatter("x", "value", source=base, size=10, color="#bf8700", marker="diamond", legend_label="base")
    plot.select_one(HoverTool).tooltips = [("report", "@label"), (metric, "@value{0.0000}")]
    plot.xaxis.major_label_orientation = 0.5 if len(factors) > 3 else 0.0
    plot.legend.location = "top_left"
    plot.legend.background_fill_alpha = 0.6
    return plot
