"""The Method step's page: presets, the hyperparameters (basic and advanced) with what each one's value
means said beside it, and the learning-rate curve."""

from __future__ import annotations

import panel as pn
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from gemma_jax.config.presets import list_presets
from ui.state.config_fields import has_field
from ui.state.new_run import NewRunState
from ui.state.wizard_field_checks import epochs_text
from ui.state.wizard_method import ADVANCED_FIELDS, BASIC_FIELDS
from ui.views.safe_text import escape_text
from ui.views.wizard_fields import FieldCells


class MethodView(pn.viewable.Viewer):
    """Step 3. All widgets exist once; the ones that mean nothing for the chosen method are hidden."""

    def __init__(self, state: NewRunState, **params):
        super().__init__(**params)
        self.state = state
        # One widget per field this JobConfig has; _refresh shows those the chosen method uses.
        paths = [path for path in (*BASIC_FIELDS, *ADVANCED_FIELDS) if has_field(path)]
        self.fields = FieldCells(state, paths)
        self.widgets, self.notes, self.cells = self.fields.widgets, self.fields.notes, self.fields.cells
        self.presets = {}
        for preset in list_presets():
            button = pn.widgets.Button(
                label=preset.title,
                description=preset.description,
                css_classes=["gj-newrun-preset", f"gj-newrun-preset-{preset.name}"],
            )
            button.on_click(lambda _, name=preset.name: self._preset(name))
            self.presets[preset.name] = button
        self.plot = pn.pane.Bokeh(_learning_rate_figure([], []), css_classes=["gj-newrun-lr-plot"])
        self.steps_note = pn.pane.Markdown(css_classes=["gj-newrun-total-steps"])
        self._curve: tuple[list, list] = ([], [])
        state.param.watch(self._refresh, "config")
        state.data.param.watch(self._refresh, "result")
        self._refresh()

    def _preset(self, name: str) -> None:
        self.state.apply_preset(name)
        self.state.session.notify(f"applied the {name} preset", "info")

    def _refresh(self, *_) -> None:
        step = self.state.method
        shown = set(step.basic_fields()) | set(step.advanced_fields())
        for path, cell in self.cells.items():
            cell.visible = path in shown
        notes = self.fields.refresh()
        length = ("train.batch_size", "train.grad_accum_steps", "train.epochs", "train.max_steps")
        if any(note.level == "error" for path in length for note in notes.get(path, [])):
            self.steps_note.object = "The run's length is shown once the values above are usable."
            return
        try:
            steps, rates = step.curve()
            total, exact = step.total_steps()
            epochs = step.epochs()
        except (ValueError, TypeError, ZeroDivisionError) as err:  # e.g. an unknown schedule: Review lists it
            self.steps_note.object = f"No learning-rate curve: {escape_text(err)}"
            return
        if (steps, rates) != self._curve:  # a new figure, not new data in the shown one: Panel sends it
            self._curve = (steps, rates)  # under the document's lock (a raw Bokeh change here raised)
            self.plot.object = _learning_rate_figure(steps, rates)
        cfg = self.state.config
        decides = "Max steps" if cfg.train.max_steps else "Epochs"
        self.steps_note.object = escape_text(
            f"The run: {'' if exact else 'about '}{total:,} steps of {cfg.train.batch_size} rows, "
            f"{epochs_text(epochs)} over the training data ({decides} decides the length"
            + ("" if self.state.data.result is not None else "; estimated until the data is checked")
            + ")."
        )

    def __panel__(self):
        task = [b for name, b in self.presets.items() if _kind(name) == "task"]
        hardware = [b for name, b in self.presets.items() if _kind(name) == "hardware"]
        basic = [c for path, c in self.cells.items() if path in BASIC_FIELDS]
        advanced = [c for path, c in self.cells.items() if path in ADVANCED_FIELDS]
        return pn.Column(
            "## 3. Method and hyperparameters",
            pn.pane.Markdown("**Presets** (set several values at once; you can still change each one):"),
            pn.Row("Task:", *task),
            pn.Row("Hardware:", *hardware),
            pn.FlexBox(*basic, css_classes=["gj-newrun-method-basic"]),
            pn.Card(pn.FlexBox(*advanced), title="Advanced", collapsed=True, css_classes=["gj-newrun-advanced"]),
            self.plot,
            self.steps_note,
            css_classes=["gj-newrun-method"],
        )


def _learning_rate_figure(steps: list[int], rates: list[float]):
    plot = figure(height=220, width=520, title="Learning rate over the run", toolbar_location=None)
    plot.line("step", "lr", source=ColumnDataSource({"step": steps, "lr": rates}), line_width=2)
    plot.xaxis.axis_label, plot.yaxis.axis_label = "step", "learning rate"
    return plot


def _kind(name: str) -> str:
    return next(p.kind for p in list_presets() if p.name == name)
