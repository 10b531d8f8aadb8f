"""The Training page's live Bokeh plots, fed from TrainingState's SeriesUpdates (stream or replace)."""

from __future__ import annotations

import panel as pn
from bokeh.models import BasicTicker, ColumnDataSource, HoverTool
from bokeh.plotting import figure

from gemma_jax.runs.schema import Metric
from ui.state.series import SeriesUpdate
from ui.state.system import SYSTEM_COLUMNS
from ui.state.training import EVAL_COLUMNS, TRAIN_COLUMNS

PLOT_HEIGHT = 200


def _steps(fig, column: str, source: ColumnDataSource, color: str, **line) -> None:
    """A per-step series as a line with small dots: the first step shows as a dot before there is a line."""
    fig.line(Metric.STEP, column, source=source, line_width=2, color=color, **line)
    fig.scatter(Metric.STEP, column, source=source, size=3, color=color)


def _figure(title: str, x_label: str = "step", **kwargs):
    plot = figure(
        title=title,
        height=PLOT_HEIGHT,
        sizing_mode="stretch_width",
        x_axis_label=x_label,
        tools="pan,wheel_zoom,box_zoom,reset,save",
        **kwargs,
    )
    plot.toolbar.logo = None
    if x_label == "step":
        plot.xaxis.ticker = BasicTicker(min_interval=1)  # whole steps: no 1.5 on a short run's axis
    return plot


class TrainingPlots:
    """Loss (train and eval), learning rate, throughput, gradient norm and system usage; the accelerator's
    series and device memory only for a run on an accelerator (`show_accelerator`)."""

    def __init__(self) -> None:
        self.sources = {
            # named so that browser tests and the latency benchmark can find them in the page
            "train": ColumnDataSource({c: [] for c in TRAIN_COLUMNS}, name="gj-train-source"),
            "eval": ColumnDataSource({c: [] for c in EVAL_COLUMNS}, name="gj-eval-source"),
            "system": ColumnDataSource({c: [] for c in SYSTEM_COLUMNS}),
        }
        train, evals, system = self.sources["train"], self.sources["eval"], self.sources["system"]
        loss = _figure("Loss")
        step, eval_loss = Metric.STEP, Metric.EVAL_LOSS
        _steps(loss, Metric.LOSS, train, "#1f77b4", legend_label="train")
        loss.line(step, eval_loss, source=evals, legend_label="eval", line_width=2, color="orange")
        loss.scatter(step, eval_loss, source=evals, color="orange", size=6)
        tips = [("step", f"@{step}"), ("loss", f"@{Metric.LOSS}"), ("eval", f"@{eval_loss}")]
        loss.add_tools(HoverTool(tooltips=tips))
        loss.legend.location = "top_right"
        lr = _figure("Learning rate")
        _steps(lr, Metric.LR, train, "green")
        speed = _figure("Tokens/s")
        _steps(speed, Metric.TOKENS_PER_S, train, "purple")
        grad = _figure("Gradient norm")
        _steps(grad, Metric.GRAD_NORM, train, "brown")
        usage = _figure("System usage (%)", x_label="time", x_axis_type="datetime", y_range=(0, 120))
        self._accelerator_lines = []
        for column, label, color in (
            ("cpu_percent", "CPU", "steelblue"),
            ("ram_percent", "RAM", "green"),
            ("accelerator_memory_percent", "accelerator memory", "orange"),
            ("accelerator_percent", "accelerator busy", "red"),
        ):
            line = usage.line("time", column, source=system, legend_label=label, line_width=2, color=color)
            if column.startswith("accelerator"):
                self._accelerator_lines.append(line)
        usage.legend.location = "top_left"
        usage.legend.orientation = "horizontal"
        usage.legend.label_text_font_size = "8pt"
        usage.legend.background_fill_alpha = 0.6
        memory = _figure("Device memory (GB, from the run)")
        _steps(memory, Metric.DEVICE_MEMORY_GB, train, "orange")
        # A plain Column: Bokeh panes that stretch inside a FlexBox collapse to no width when the
        # page is swapped in after the first render (the dashboard builds pages lazily).
        self._plots = pn.Column(
            *(
                pn.pane.Bokeh(plot, sizing_mode="stretch_width", css_classes=[f"gj-training-plot-{name}"])
                for name, plot in (("loss", loss), ("lr", lr), ("throughput", speed), ("grad-norm", grad))
            ),
            sizing_mode="stretch_width",
            margin=0,
            visible=False,
        )
        # Until a run has a step its plots are hidden: empty Bokeh plots keep the axes of the data they
        # showed last, which read as another run's steps and losses.
        self._waiting = pn.pane.Markdown(
            "The plots start with the run's first step.", css_classes=["gj-training-plots-waiting"]
        )
        self.metrics = pn.Column(self._waiting, self._plots, sizing_mode="stretch_width")
        self._legend = usage.legend[0]
        # in a Column of its own: a Bokeh pane's `visible` is tied to its figure's and does not stick
        self.device_memory = pn.Column(
            pn.pane.Bokeh(memory, sizing_mode="stretch_width", css_classes=["gj-training-plot-device-memory"]),
            sizing_mode="stretch_width",
            margin=0,
        )
        self.system = pn.Column(
            pn.pane.Bokeh(usage, sizing_mode="stretch_width", css_classes=["gj-training-plot-system"]),
            self.device_memory,
            sizing_mode="stretch_width",
        )
        self.accelerator: bool | None = None
        self.show_accelerator(False)

    def show_accelerator(self, shown: bool) -> None:
        """Accelerator series and the device-memory plot only for a run on one (on CPU they stay empty)."""
        if shown == self.accelerator:
            return
        self.accelerator = shown
        for line in self._accelerator_lines:
            line.visible = shown
        for item in self._legend.items:
            if any(renderer in self._accelerator_lines for renderer in item.renderers):
                item.visible = shown
        self.device_memory.visible = shown

    def apply(self, updates: dict[str, SeriesUpdate]) -> None:
        """Stream new points, or replace a plot's data after it was thinned or the run changed."""
        for name, update in updates.items():
            source = self.sources[name]
            if update.kind == "replace":
                source.data = update.data
            else:
                source.stream(update.data)
        has_steps = bool(self.sources["train"].data.get(Metric.STEP))
        self._plots.visible, self._waiting.visible = has_steps, not has_steps
