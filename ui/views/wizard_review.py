"""The Review step's page: the run's name, every problem, the config as YAML and as a command, and Start."""

from __future__ import annotations

import io

import panel as pn

from ui.state.new_run import NewRunState
from ui.views.safe_text import code_text, escape_text, preformatted
from ui.views.wizard_fields import field_widget


class ReviewView(pn.viewable.Viewer):
    """Step 4. Start stays disabled while any problem is listed."""

    def __init__(self, state: NewRunState, **params):
        super().__init__(**params)
        self.state = state
        review = state.review
        self.run_name = field_widget(state, "name")
        self.run_name.width = 420
        self.yaml = pn.widgets.CodeEditor(
            language="yaml", readonly=True, height=360, sizing_mode="stretch_width", css_classes=["gj-newrun-yaml"]
        )
        self.command = pn.pane.HTML(css_classes=["gj-newrun-command"], sizing_mode="stretch_width")
        self.problems = pn.pane.HTML(css_classes=["gj-newrun-problems"], sizing_mode="stretch_width")
        self.download = pn.widgets.FileDownload(
            callback=lambda: io.StringIO(review.yaml_text()),
            filename=review.file_name(),
            label="Download the config (YAML)",
            css_classes=["gj-newrun-download"],
        )
        self.start = pn.widgets.Button(label="Start training", color="success", css_classes=["gj-newrun-start"])
        self.start.on_click(self._start)
        state.param.watch(self._refresh, "config")
        state.param.watch(self._refresh, "step")
        state.data.param.watch(self._refresh, ["result", "checking"])
        self._refresh()

    def _start(self, _event=None) -> None:
        self.start.disabled = True  # a double click submits once
        try:
            self.state.review.start()
        finally:
            self._refresh()

    def _refresh(self, *_) -> None:
        if self.state.step != "Review":
            return  # validation with the memory check runs when the page is shown, not on every keystroke
        review = self.state.review
        self.yaml.value = review.yaml_text()
        self.download.filename = review.file_name()
        self.command.object = (  # a <pre> the run name cannot close, unlike a Markdown code fence
            f"<p>To run the same job from a terminal, download the config and run "
            f"{code_text(review.file_command())}, or without a file:</p>{preformatted(review.command())}"
        )
        problems = review.problems()
        if problems:
            items = "".join(f"<li>{escape_text(p)}</li>" for p in problems)
            self.problems.object = f'<p style="color:#b3261e"><b>{len(problems)} problem(s) to fix before starting:</b></p><ul>{items}</ul>'
        else:
            self.problems.object = "<p>No problems: ready to start.</p>"
        self.start.disabled = bool(problems)

    def __panel__(self):
        return pn.Column(
            "## 4. Review",
            self.run_name,
            self.problems,
            self.start,
            self.yaml,
            self.download,
            self.command,
            css_classes=["gj-newrun-review"],
        )
