"""The request-head deadline (http_protocol.py) on a real uvicorn server with a trivial app and raw sockets.

The deadline is short here (HEAD_S); a slowloris client, one that sends nothing, or a head trickled a
byte at a time past it is closed, while heads that arrive in time, kept-alive connections idle between
requests and slow bodies after a complete head are served as before.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gemma_jax.serve.openai.http_protocol import head_deadline_protocol

HEAD_S = 0.6
SLACK_S = 1.5  # a closed connection is seen within HEAD_S + SLACK_S on a busy test machine


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"got {len(await request.body())} bytes")


@pytest.fixture(scope="module")
def address():
    app = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"])])
    # No log_config or log_level: uvicorn would configure the process's logging for the tests that follow.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=head_deadline_protocol(HEAD_S), log_config=None, log_level=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[:2]
    server.should_exit = True
    thread.join(10)


def _connect(address) -> socket.socket:
    connection = socket.create_connection(address, timeout=HEAD_S + SLACK_S + 5)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _read_until_closed(connection: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (time.monotonic())."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received, time.monotonic()


def _request(connection: socket.socket, body: bytes = b"") -> bytes:
    connection.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    reply = b""
    while not reply.endswith(b" bytes"):
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection; got {reply!r}"
        reply += chunk
    return reply


def test_a_head_that_never_ends_gets_408_and_is_closed(address):
    with _connect(address) as connection:
        start = time.monotonic()
        connection.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le")
        received, closed = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), received
    assert b"connection: close" in received.lower()
    assert HEAD_S - 0.05 <= closed - start < HEAD_S + SLACK_S


def test_a_head_trickled_a_byte_at_a_time_is_closed_at_its_deadline(address):
    """Every byte used to restart uvicorn's only timer (keep-alive): a slowloris client kept its connection."""
    head = b"GET /echo HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
    with _connect(address) as connection:
        start = time.monotonic()
        try:
            for byte in head:
                connection.sendall(bytes([byte]))
                time.sleep(0.05)
                assert time.monotonic() - start < HEAD_S + SLACK_S, "the connection is still open"
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed under our feet: what should happen
        received, closed = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 408"), received
    assert closed - start < HEAD_S + SLACK_S


def test_a_connection_that_sends_nothing_is_closed_without_a_reply(address):
    with _connect(address) as connection:
        start = time.monotonic()
        received, closed = _read_until_closed(connection)
    assert received == b""
    assert HEAD_S - 0.05 <= closed - start < HEAD_S + SLACK_S


def test_other_connections_are_served_while_a_slow_head_waits(address):
    with _connect(address) as slow, _connect(address) as normal:
        slow.sendall(b"GET /echo HTTP/1.1\r\n")
        assert _request(normal, b"hello").endswith(b"got 5 bytes")
        assert _read_until_closed(slow)[0].startswith(b"HTTP/1.1 408")


def test_heads_in_time_kept_alive_connections_and_slow_bodies_are_served(address):
    with _connect(address) as connection:
        for part in (b"POST /echo HTTP/1.1\r\n", b"Host: x\r\n", b"Content-Length: 2\r\n\r\nok"):
            connection.sendall(part)  # a head spread over half its deadline
            time.sleep(HEAD_S / 6)
        reply = b""
        while not reply.endswith(b" bytes"):
            reply += connection.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"got 2 bytes")
        time.sleep(HEAD_S * 2)  # idle between requests: uvicorn's keep-alive (5 s) decides, not the head deadline
        assert _request(connection, b"again").endswith(b"got 5 bytes")
        # A complete head, then a body slower than the head deadline: --request-timeout's business, not ours.
        connection.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(HEAD_S * 2)
        connection.sendall(b"cd")
        reply = b""
        while not reply.endswith(b" bytes"):
            chunk = connection.recv(65536)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"got 4 bytes")


def test_a_pipelined_head_that_never_ends_is_closed_after_the_answer_before_it(address):
    with _connect(address) as connection:
        start = time.monotonic()
        connection.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokGET /echo HTTP/1.1\r\nHo")
        received, closed = _read_until_closed(connection)
    first, _, rest = received.partition(b"got 2 bytes")
    assert first.startswith(b"HTTP/1.1 200") and rest.startswith(b"HTTP/1.1 408"), received
    assert closed - start < HEAD_S + SLACK_S


def test_the_deadline_must_be_positive():
    for seconds in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="header timeout"):
            head_deadline_protocol(seconds)


def test_a_body_trickled_past_its_deadline_is_a_408():
    """Headers in time, then a body a byte at a time: the handler is not held past the body deadline."""
    import asyncio

    from starlette.requests import Request

    from gemma_jax.serve.openai.app import _read_json
    from gemma_jax.serve.openai.protocol import ApiError

    async def trickle():
        await asyncio.sleep(0.2)
        return {"type": "http.request", "body": b"{", "more_body": True}

    async def whole():
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    def request(receive) -> Request:
        return Request({"type": "http", "method": "POST", "headers": []}, receive)

    async def read(receive, timeout_s: float):
        return await _read_json(request(receive), timeout_s)

    with pytest.raises(ApiError) as refused:
        asyncio.run(read(trickle, 0.5))
    assert refused.value.status == 408 and "did not arrive within 0.5 s" in refused.value.message
    assert asyncio.run(read(whole, 0.5)) == {"a": 1}
