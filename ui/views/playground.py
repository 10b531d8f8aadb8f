"""The Playground page: sampling controls, one prompt, the fine-tuned and base answers streamed side by side."""

from __future__ import annotations

import panel as pn

from ui.state.playground import PlaygroundState
from ui.views.checkpoint_picker import CheckpointPage, picker_row
from ui.views.safe_text import escape_text

POLL_MS = 150


class PlaygroundPage(CheckpointPage):
    def __init__(self, session, state: PlaygroundState | None = None, **params):
        super().__init__(session, state or PlaygroundState(session), "Playground", POLL_MS, **params)
        s = self.state
        if pn.state.curdoc is not None:  # the worker process and its models go with the browser session
            pn.state.on_session_destroyed(lambda _context: self.state.close())
        sliders = [
            pn.widgets.FloatSlider.from_param(
                s.param.temperature, name="Temperature", css_classes=["gj-playground-temperature"]
            ),
            pn.widgets.IntSlider.from_param(s.param.top_k, name="Top-k (0 = off)", css_classes=["gj-playground-top-k"]),
            pn.widgets.FloatSlider.from_param(s.param.top_p, name="Top-p", css_classes=["gj-playground-top-p"]),
            pn.widgets.IntInput.from_param(
                s.param.max_new_tokens, name="Max new tokens", css_classes=["gj-playground-max-tokens"]
            ),
            pn.widgets.IntInput.from_param(s.param.seed, name="Seed", css_classes=["gj-playground-seed"]),
        ]
        approximate = pn.widgets.Checkbox.from_param(
            s.param.approximate,
            name="Fast approximate decoding (int8: may differ from the model's own answer)",
            css_classes=["gj-playground-approximate"],
        )
        self.prompt = pn.widgets.TextAreaInput.from_param(
            s.param.prompt,
            name="Prompt",
            placeholder="Ask something the run was trained on…",
            rows=4,
            sizing_mode="stretch_width",
            css_classes=["gj-playground-prompt"],
        )
        self.generate_button = pn.widgets.Button(
            label="Generate", color="primary", css_classes=["gj-playground-generate"]
        )
        self.stop_button = pn.widgets.Button(
            label="Stop", color="warning", disabled=True, css_classes=["gj-playground-stop"]
        )
        self.generate_button.on_click(lambda _event: self._follow(s.generate()))
        self.stop_button.on_click(lambda _event: s.stop())
        self.status = pn.pane.Markdown(pn.bind(escape_text, s.param.status), css_classes=["gj-playground-status"])
        self.error = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["gj-playground-error"])
        self.tuned = self._answer(s.param.tuned_label, s.param.tuned_output, "gj-playground-tuned-output")
        self.base = self._answer(s.param.base_label, s.param.base_output, "gj-playground-base-output")
        s.param.watch(self._show_state, ["running", "error"])
        self.layout = pn.Column(
            "## Playground",
            picker_row(s.picker, "playground"),
            pn.Row(*sliders),
            approximate,
            self.prompt,
            pn.Row(self.generate_button, self.stop_button, self.status),
            self.error,
            pn.Row(self.tuned, self.base, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    @staticmethod
    def _answer(label, text, css_class: str) -> pn.Column:
        body = pn.widgets.TextAreaInput.from_param(
            text, name="", disabled=True, rows=14, sizing_mode="stretch_width", css_classes=[css_class]
        )
        return pn.Column(
            pn.pane.Markdown(pn.bind(lambda value: f"### {escape_text(value)}", label)),
            body,
            sizing_mode="stretch_width",
        )

    def _show_state(self, _event=None) -> None:
        running = self.state.running
        self.generate_button.disabled, self.stop_button.disabled = running, not running
        self.error.object, self.error.visible = escape_text(self.state.error), bool(self.state.error)
