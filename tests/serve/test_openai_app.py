"""The OpenAI app's HTTP edge in process, without a model: bodies it cannot read and clients that leave.

Requests go straight to the ASGI app, so an exception that would reach uvicorn (a 500 and a traceback
in the server's log) comes out of the call here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from gemma_jax.serve.openai.app import ServerSettings, build_app


def _app(**settings):
    model = SimpleNamespace(tokenizer=None, context_length=64)
    scheduler = SimpleNamespace(generator=SimpleNamespace(model=model))  # no route here reaches it
    return build_app(scheduler, ServerSettings(**{"model_id": "m", "aliases": frozenset(), **settings}))


def _post(path: str, chunks: list[bytes], *, disconnect: bool = False) -> tuple[int, dict | None]:
    """POST the chunks as the body (the client leaving after them with `disconnect`): (status, JSON body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    if disconnect:
        messages.append({"type": "http.disconnect"})
    else:
        messages.append({"type": "http.request", "body": b"", "more_body": False})
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the handler waits for a disconnect that never comes

    async def send(message):
        sent.append(message)

    asyncio.run(_app()(scope, receive, send))
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], json.loads(body) if body else None


def test_a_body_nested_too_deeply_is_a_400_in_openais_format():
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    for path in ("/v1/chat/completions", "/v1/completions"):
        status, body = _post(path, [deep])
        assert status == 400, body
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert "nested too deeply" in body["error"]["message"]


def test_a_client_gone_mid_body_is_one_quiet_log_line(caplog):
    with caplog.at_level(logging.DEBUG):
        status, body = _post("/v1/chat/completions", [b'{"model": "m", '], disconnect=True)
    assert status == 499 and body is None  # nobody reads it
    lines = [record for record in caplog.records if "disconnected" in record.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO and not lines[0].exc_info
    assert "127.0.0.1:50000" in lines[0].getMessage() and "/v1/chat/completions" in lines[0].getMessage()
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize("name", ["google/gemma-3-1b-it", "runs/my-run"])
def test_the_served_model_is_retrieved_by_its_id_or_an_alias(name):
    """The openai SDK's `client.models.retrieve(id)`: before, a 404 for the served model itself."""
    client = TestClient(_app(model_id="google/gemma-3-1b-it", aliases=frozenset({"runs/my-run"})))
    listed = client.get("/v1/models").json()["data"][0]
    reply = client.get(f"/v1/models/{name}")
    assert reply.status_code == 200, reply.text
    assert reply.json() == listed and listed["id"] == "google/gemma-3-1b-it" and listed["object"] == "model"


def test_another_model_is_openais_404_and_the_key_is_checked():
    client = TestClient(_app(api_key="secret"))
    assert client.get("/v1/models/m").status_code == 401
    assert client.get("/v1/models/m", headers={"Authorization": "Bearer wrong"}).json()["error"]["code"] == (
        "invalid_api_key"
    )
    key = {"Authorization": "Bearer secret"}
    assert client.get("/v1/models/m", headers=key).json()["id"] == "m"
    reply = client.get("/v1/models/gpt-4o", headers=key)
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "model_not_found"
    assert "gpt-4o" in error["message"]
