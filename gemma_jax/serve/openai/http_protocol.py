"""uvicorn's h11 protocol with a deadline for each request head (request line and headers).

uvicorn bounds only the idle time between requests (its keep-alive timeout, 5 s, which the first byte
of the next request cancels); nothing bounds the time a client takes to send its head. A client that
opens connections and sends its headers a byte at a time (slowloris), or nothing at all, would hold
them open forever. Here a head must be complete within --header-timeout seconds: counted from the
connection's opening for its first request, from the first byte of each later one (before that byte,
uvicorn's keep-alive timeout applies, as it did). A connection past its deadline is answered
408 Request Timeout and closed when part of a head came, and closed without a word when nothing came,
as Apache's mod_reqtimeout does. Once the head is in, --request-timeout and the handlers take over.
Imported only when serving (it imports uvicorn).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("uvicorn.error")
_MESSAGE = b"the request line and headers did not arrive in time\n"
REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_MESSAGE)).encode() + b"\r\n\r\n" + _MESSAGE
)


class HeadDeadlineProtocol(H11Protocol):
    """H11Protocol whose connections close when a request head takes over `header_timeout_s` seconds."""

    header_timeout_s: float = 20.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a new connection is opened to send a request: its head is due now

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._awaiting_head():
            self._cancel_head_timer()  # the head is in (or the connection is closing)
        elif data:
            self._arm_head_timer()  # bytes of a head on a kept-alive connection: its deadline starts now

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts the next cycle: a pipelined head may wait in h11's buffer
        if not self._awaiting_head():
            self._cancel_head_timer()
        elif self.conn.trailing_data[0]:
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _awaiting_head(self) -> bool:
        """The client owes a request head: h11 waits for one (IDLE) on a connection still open."""
        return self.conn.their_state is h11.IDLE and self.transport is not None and not self.transport.is_closing()

    def _arm_head_timer(self) -> None:
        """Start the head's deadline unless it runs already (it is never pushed back)."""
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head():
            return
        received, _ = self.conn.trailing_data
        if received:  # part of a head came: say why the connection ends
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        who = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.debug("%s - closed: no complete request head within %g s (--header-timeout)", who, self.header_timeout_s)
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()


def head_deadline_protocol(header_timeout_s: float) -> type[HeadDeadlineProtocol]:
    """The protocol class for uvicorn.Config(http=...), with this deadline for every request head."""
    if not header_timeout_s > 0:
        raise ValueError(f"the header timeout must be above 0 seconds, got {header_timeout_s}")
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"header_timeout_s": float(header_timeout_s)})
