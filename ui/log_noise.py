"""Quiet the server log about browser tabs that closed: normal, not a fault.

When a tab closes while its page is being updated, Bokeh and Panel warn once per pending message
("Failed sending message as connection was closed") and asyncio reports the websocket's
WebSocketClosedError as "Task exception was never retrieved" with a traceback. An operator reading
the log for real errors (the dashboard's own failures are logged with tracebacks) should not have to
wade through those. They are kept at DEBUG level, not dropped.
"""

from __future__ import annotations

import logging

CLOSED_TAB_WARNING = "Failed sending message as connection was closed"
LOGGERS = ("bokeh.server.views.ws", "panel.io.document", "asyncio")


class ClosedTabFilter(logging.Filter):
    """Turns the records a closed tab causes into DEBUG records (shown only when DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _closed_tab(record):
            if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                return False
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def _closed_tab(record: logging.LogRecord) -> bool:
    if record.getMessage() == CLOSED_TAB_WARNING:
        return True
    error = record.exc_info[1] if record.exc_info else None
    return type(error).__name__ in ("WebSocketClosedError", "StreamClosedError")


def quiet_closed_tabs() -> None:
    """Install the filter on the loggers those records come from (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ClosedTabFilter) for f in logger.filters):
            logger.addFilter(ClosedTabFilter())
