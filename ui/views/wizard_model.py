"""The Model step's page: pick a Gemma, see its architecture, and whether the job fits in memory."""

from __future__ import annotations

import pandas as pd
import panel as pn

from ui.state.help_text import help_for
from ui.state.new_run import NewRunState
from ui.state.wizard_model import model_choices
from ui.views.safe_text import escape_text, text_table

OTHER = "Other (type a source below)"


class ModelView(pn.viewable.Viewer):
    """Step 2."""

    def __init__(self, state: NewRunState, **params):
        super().__init__(**params)
        self.state = state
        choices = {choice.label: choice.source for choice in model_choices()}
        self.by_source = {source: label for label, source in choices.items()}
        current = state.get("model.source")
        self.picker = pn.widgets.Select(
            label="Model",
            options={**choices, OTHER: OTHER},
            value=current if current in self.by_source else OTHER,
            description=help_for("model.source"),
            css_classes=["gj-newrun-model"],
            width=520,
        )
        self.custom = pn.widgets.TextInput(
            label="Model source",
            value=current,
            placeholder="kaggle://..., hf://org/model, gs://..., /path/to/preset, file.gguf",
            description=help_for("model.source"),
            css_classes=["gj-newrun-model-source"],
            width=520,
        )
        self.suggest = pn.widgets.Button(label="Use the suggested batch size", css_classes=["gj-newrun-suggest-batch"])
        self.picker.param.watch(self._picked, "value")
        self.custom.param.watch(lambda event: state.model.choose(event.new.strip()), "value")
        self.suggest.on_click(lambda _: state.method.use_suggested_batch())
        state.param.watch(self._follow, "config")

    def _picked(self, event) -> None:
        if event.new != OTHER:
            self.state.model.choose(event.new)

    def _follow(self, _) -> None:
        source = self.state.get("model.source")
        if self.custom.value != source:
            self.custom.value = source
        wanted = source if source in self.by_source else OTHER
        if self.picker.value != wanted:
            self.picker.value = wanted

    def _details(self, config):
        step = self.state.model
        rows = step.architecture()
        if rows:
            table = text_table(
                pd.DataFrame(rows, columns=["", "value"]),
                show_index=False,
                disabled=True,
                css_classes=["gj-newrun-architecture"],
                width=520,
            )
        else:
            table = pn.pane.Markdown("The architecture of this source is read when the model loads.")
        warnings = step.warnings()
        memory = pn.pane.Alert(
            "\n\n".join(escape_text(text) for text in (step.describe_memory(), *warnings)),
            alert_type="warning" if warnings else "success",
            css_classes=["gj-newrun-memory"],
        )
        batch = step.suggested_batch_size()
        advice = (
            f"Largest batch that fits: **{batch}** rows (now {config.train.batch_size})."
            if batch
            else "No batch size fits as configured: try LoRA/QLoRA, model.remat, or a shorter sequence length."
        )
        return pn.Column(table, memory, pn.pane.Markdown(advice, css_classes=["gj-newrun-batch-advice"]))

    @staticmethod
    def _error(error: str):
        return pn.pane.Alert(
            escape_text(error), alert_type="danger", visible=bool(error), css_classes=["gj-newrun-model-error"]
        )

    def __panel__(self):
        return pn.Column(
            "## 2. Model",
            self.picker,
            self.custom,
            pn.bind(self._error, self.state.model.param.error),
            pn.bind(self._details, self.state.param.config),
            self.suggest,
            css_classes=["gj-newrun-model-step"],
        )
