"""The Model step's page: pick a Gemma, see its architecture, and whether the job fits in memory."""

from __future__ import annotations

import panel as pn

from ui.state.help_text import help_for
from ui.state.new_run import NewRunState
from ui.state.wizard_model import model_choices
from ui.views.safe_text import escape_text

OTHER = "Other (type a source below)"


def architecture_html(rows: list[tuple[str, str]]) -> str:
    """The model's properties as a two-column table whose values wrap (a long "trained" line stays whole)."""
    cells = "".join(
        f'<tr><th style="text-align:left;font-weight:normal;color:#555;padding:2px 16px 2px 0;white-space:nowrap;'
        f'vertical-align:top">{escape_text(name)}</th><td style="padding:2px 0;overflow-wrap:anywhere">'
        f"{escape_text(value)}</td></tr>"
        for name, value in rows
    )
    return f'<table class="gj-architecture-table" style="border-collapse:collapse">{cells}</table>'


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
            table = pn.pane.HTML(architecture_html(rows), width=620, css_classes=["gj-newrun-architecture"])
        else:
            table = pn.pane.Markdown("The architecture of this source is read when the model loads.")
        warnings = step.warnings()
        memory = pn.pane.Alert(
            "\n\n".join(escape_text(text) for text in (step.describe_memory(), *warnings, step.describe_topologies())),
            alert_type="warning" if warnings else "success",
            css_classes=["gj-newrun-memory"],
        )
        advice = step.batch_advice()
        self.suggest.disabled = advice is None or advice.size == config.train.batch_size
        if advice is None:
            text = (
                "No batch size fits as configured: try LoRA or QLoRA (Method step), recomputing activations, "
                "or a shorter sequence length (Data step)."
            )
            self.suggest.label = "Use the suggested batch size"
        else:
            text = (
                f"Suggested batch size: <b>{advice.size}</b> rows (now {config.train.batch_size}). "
                f"{escape_text(advice.reason)}"
            )
            self.suggest.label = f"Use the suggested batch size ({advice.size})"
        return pn.Column(
            table, memory, pn.pane.HTML(f"<p>{text}</p>", width=620, css_classes=["gj-newrun-batch-advice"])
        )

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
