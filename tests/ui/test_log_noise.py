"""A closed browser tab leaves no warnings or tracebacks in the server log; real errors still show."""

from __future__ import annotations

import logging

from tornado.websocket import WebSocketClosedError

from ui.log_noise import CLOSED_TAB_WARNING, quiet_closed_tabs


def test_closed_tab_records_are_quiet_and_other_records_are_kept(caplog):
    quiet_closed_tabs()
    quiet_closed_tabs()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("bokeh.server.views.ws").warning(CLOSED_TAB_WARNING)
        try:
            raise WebSocketClosedError()
        except WebSocketClosedError:
            logging.getLogger("asyncio").exception("Task exception was never retrieved")
        logging.getLogger("asyncio").error("a real failure")
        logging.getLogger("bokeh.server.views.ws").warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["a real failure", "something else"]
    from ui.log_noise import ClosedTabFilter

    assert sum(isinstance(f, ClosedTabFilter) for f in logging.getLogger("asyncio").filters) == 1
