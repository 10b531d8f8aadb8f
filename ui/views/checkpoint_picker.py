"""The run and checkpoint drop-downs shared by the Playground, Evaluate and Export pages."""

from __future__ import annotations

import panel as pn

from ui.state.checkpoint_picker import CheckpointPicker


def picker_row(picker: CheckpointPicker, page: str, on_refresh=None) -> pn.Row:
    """Run and checkpoint selects bound to `picker`, and a refresh button (new runs, new checkpoints)."""
    run = pn.widgets.Select.from_param(picker.param.run, name="Run", css_classes=[f"gj-{page}-run"], width=260)
    checkpoint = pn.widgets.Select.from_param(
        picker.param.checkpoint, name="Checkpoint", css_classes=[f"gj-{page}-checkpoint"], width=140
    )
    refresh = pn.widgets.Button(label="↻", width=40, align="end", css_classes=[f"gj-{page}-refresh"])

    def refreshed(_event) -> None:
        picker.refresh()
        if on_refresh is not None:
            on_refresh()

    refresh.on_click(refreshed)
    return pn.Row(run, checkpoint, refresh)


class Poller:
    """A periodic callback running `tick` while a page is shown (activate/deactivate by the app)."""

    def __init__(self, tick, period_ms: int, session, page: str):
        self._tick, self._period, self._session, self._page = tick, period_ms, session, page
        self._callback = None
        self._last_error = ""

    def start(self) -> None:
        if self._callback is None and pn.state.curdoc is not None:
            self._callback = pn.state.add_periodic_callback(self._safely, period=self._period)

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    def _safely(self) -> None:
        try:
            self._tick()
        except Exception as err:  # noqa: BLE001  (the user sees it once; the callback keeps going)
            message = f"Live updates of the {self._page} page failed: {type(err).__name__}: {err}"
            if message != self._last_error:
                self._last_error = message
                self._session.notify(message, "error")
