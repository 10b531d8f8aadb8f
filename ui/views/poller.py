"""A page's live updates: a periodic callback while the page is shown, its failures reported once to
the user and with their traceback to the server's log."""

from __future__ import annotations

import logging

import panel as pn

log = logging.getLogger(__name__)


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
        except Exception as err:  # the user sees it once, the log has its traceback; the callback keeps going
            message = f"Live updates of the {self._page} page failed: {type(err).__name__}: {err}"
            if message != self._last_error:
                log.exception("Live updates of the %s page failed", self._page)
                self._last_error = message
                self._session.notify(message, "error")
