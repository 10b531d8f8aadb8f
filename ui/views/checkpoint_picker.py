"""The run and checkpoint drop-downs, and the page frame, shared by the Playground, Evaluate and Export pages."""

from __future__ import annotations

import panel as pn

from ui.state.checkpoint_picker import CheckpointPicker
from ui.views.poller import Poller
from ui.views.safe_text import escape_text

REFRESH_LABEL = "↻ Refresh"
REFRESH_TOOLTIP = "Look again for new runs and checkpoints"


def picker_row(picker: CheckpointPicker, page: str, on_refresh=None) -> pn.Row:
    """Run and checkpoint selects bound to `picker`, and a refresh button (new runs, new checkpoints)."""
    run = pn.widgets.Select.from_param(picker.param.run, name="Run", css_classes=[f"gj-{page}-run"], width=260)
    checkpoint = pn.widgets.Select.from_param(
        picker.param.checkpoint, name="Checkpoint", css_classes=[f"gj-{page}-checkpoint"], width=140
    )
    refresh = pn.widgets.Button(
        label=REFRESH_LABEL, width=100, align="end", description=REFRESH_TOOLTIP, css_classes=[f"gj-{page}-refresh"]
    )

    def refreshed(_event) -> None:
        picker.refresh()
        if on_refresh is not None:
            on_refresh()

    refresh.on_click(refreshed)
    return pn.Row(run, checkpoint, refresh)


class CheckpointPage(pn.viewable.Viewer):
    """A page whose state has a checkpoint picker and a `running` job that `state.poll()` follows every
    `poll_ms` while the page is shown, and on after a start until the job ends; the page builds `layout`."""

    def __init__(self, session, state, page: str, poll_ms: int, **params):
        super().__init__(**params)
        self.session = session
        self.state = state
        self.poller = Poller(self._tick, poll_ms, session, page)
        self.layout = None

    def _job_widgets(self, page: str) -> None:
        """A job's spinner, progress line and error (Evaluate, Export); `_render_job` updates them."""
        self.spinner = pn.indicators.LoadingSpinner(value=False, visible=False, width=28, height=28, align="center")
        # the job's output line and its error name the run, the model source, paths: shown as text
        self.progress = pn.pane.Markdown(
            pn.bind(escape_text, self.state.param.progress), css_classes=[f"gj-{page}-progress"]
        )
        self.error = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=[f"gj-{page}-error"])

    def _render_job(self, button) -> None:
        """`button` (the start) off while the job runs, the spinner on, the error if any."""
        s = self.state
        button.disabled = s.running
        self.spinner.value = self.spinner.visible = s.running
        self.error.object, self.error.visible = escape_text(s.error), bool(s.error)

    def _tick(self) -> None:
        self.state.poll()

    def _follow(self, started: bool) -> None:
        """After a start: poll until the job ends (even when the page is left meanwhile)."""
        if started:
            self.poller.start()

    def activate(self) -> None:
        self.state.picker.refresh()
        self.poller.start()

    def deactivate(self) -> None:
        if not self.state.running:
            self.poller.stop()

    def __panel__(self):
        return self.layout
