"""`gemma-jax serve` end to end: the official `openai` client against real servers on tiny:gemma3.

Two servers start once for the module, in parallel: A (plain, with Vertex AI's variables and a short
--header-timeout) and B (an API key, one row per batch and a queue of one, for 401, 503 and SIGTERM).
Greedy answers are compared with what `gemma-jax generate` produces for the same prompt, alone and 8 at a time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from gemma_jax.data import prompt_text
from gemma_jax.models.generation import Generator
from gemma_jax.serve.sources import load_source

pytestmark = pytest.mark.slow

MODEL = "tiny:gemma3"
KEY = "test-key-123"
ROOT = Path(__file__).parents[2]
HEAD_S = 2.0  # server A's --header-timeout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, *flags: str, env: dict | None = None):
        command = [sys.executable, "-m", "gemma_jax.cli", "serve", MODEL, "--port", "0", "--log-level", "warning"]
        self.process = subprocess.Popen(
            [*command, *flags],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = ""
        self.stderr: list[str] = []
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()

    def wait_ready(self) -> str:
        line = self.process.stdout.readline()  # the first stdout line is the announcement
        assert line.startswith("serving http://"), f"{line!r}; stderr: {''.join(self.stderr)[-3000:]}"
        self.url = line.split()[1].replace("0.0.0.0", "127.0.0.1")
        return self.url

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def servers():
    vertex_port = _free_port()
    vertex = {"AIP_HTTP_PORT": str(vertex_port), "AIP_HEALTH_ROUTE": "/ready", "AIP_PREDICT_ROUTE": "/predict"}
    a = Server("--batch-wait-ms", "50", "--header-timeout", str(HEAD_S), env=vertex)
    b = Server("--max-batch", "1", "--max-queue", "1", env={"GEMMA_JAX_API_KEY": KEY})
    try:
        a.wait_ready()
        b.wait_ready()
        assert a.url == f"http://127.0.0.1:{vertex_port}/v1"  # AIP_HTTP_PORT wins over --port
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def client(servers):
    return openai.OpenAI(base_url=servers[0].url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def generator():
    """The model as `gemma-jax generate tiny:gemma3` loads it."""
    model, _ = load_source(MODEL)
    return Generator(model, max_length=model.context_length)


def solo(generator, text: str, max_tokens: int, chat: bool = True) -> str:
    """What `gemma-jax generate` answers for this prompt alone (greedy): a raw prompt's exact continuation."""
    generation = generator.generate_ids([prompt_text(text) if chat else text], max_tokens)[0]
    return generation.text if chat else generator.model.tokenizer.decode(generation.token_ids)


def test_models_and_health(client, servers):
    assert [model.id for model in client.models.list()] == [MODEL]
    for route in ("/health", "/ready"):  # ours and Vertex AI's AIP_HEALTH_ROUTE
        reply = httpx.get(servers[0].url.removesuffix("/v1") + route)
        assert reply.status_code == 200 and reply.json()["status"] == "ok"


def test_chat_greedy_equals_generate(client, generator):
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "the quick brown fox"}], max_tokens=20, temperature=0
    )
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == solo(generator, "the quick brown fox", 20)
    assert choice.finish_reason in ("stop", "length")
    ids = generator.model.tokenizer.encode(prompt_text("the quick brown fox"))
    assert reply.usage.prompt_tokens == len(ids) + 1  # <bos>
    assert 0 < reply.usage.completion_tokens <= 20


def test_the_cli_gives_the_same_answer(client):
    done = subprocess.run(
        [sys.executable, "-m", "gemma_jax.cli", "generate", MODEL, "--prompt", "hello there", "--json"]
        + ["--max-new-tokens", "16"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    expected = json.loads(done.stdout.strip().splitlines()[-1])["text"]
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello there"}], max_tokens=16
    )
    assert reply.choices[0].message.content == expected


def test_chat_stream_equals_the_whole_answer(client, generator):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "pack my box"}]
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=messages, max_tokens=24, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # The system message is folded into the first user turn, as the chat template does.
    assert text == generator.generate_ids([prompt_text("pack my box", system="be brief")], 24)[0].text
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals in (["stop"], ["length"])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_completion_raw_prompt_streamed_and_not(client, generator):
    expected = solo(generator, "héllo wörld", 24, chat=False)
    whole = client.completions.create(model=MODEL, prompt="héllo wörld", max_tokens=24)
    assert whole.object == "text_completion" and whole.choices[0].text == expected
    streamed = client.completions.create(model=MODEL, prompt="héllo wörld", max_tokens=24, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == expected


def test_eight_concurrent_clients_get_their_solo_answers(client, generator, servers):
    questions = [f"question {i}: " + "why is the sky blue? " * (i % 4) for i in range(8)]
    lengths = [8 + 4 * i for i in range(8)]
    expected = [solo(generator, q, n) for q, n in zip(questions, lengths)]
    before = httpx.get(servers[0].url.removesuffix("/v1") + "/health").json()

    def ask(index: int) -> str:
        messages = [{"role": "user", "content": questions[index]}]
        if index % 2:  # half of them stream
            stream = client.chat.completions.create(
                model=MODEL, messages=messages, max_tokens=lengths[index], stream=True
            )
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        reply = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=lengths[index])
        return reply.choices[0].message.content

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert answers == expected
    after = httpx.get(servers[0].url.removesuffix("/v1") + "/health").json()
    assert after["rows"] - before["rows"] == 8
    assert after["batches"] - before["batches"] < 8  # some were decoded together


def test_stop_strings_cut_the_answer(client, generator):
    full = solo(generator, "the lazy dog", 32)
    stop = full[6:8]
    cut = full[: full.index(stop)]
    messages = [{"role": "user", "content": "the lazy dog"}]
    reply = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=32, stop=[stop, "\u2603never"])
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (cut, "stop")
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=32, stop=stop, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == cut
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_vertex_predict_answers_every_instance(servers, generator):
    body = {
        "instances": [{"prompt": "héllo wörld"}, {"messages": [{"role": "user", "content": "pack my box"}]}],
        "parameters": {"max_tokens": 12, "temperature": 0},
    }
    reply = httpx.post(servers[0].url.removesuffix("/v1") + "/predict", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    texts = [p["text"] for p in reply.json()["predictions"]]
    assert texts == [solo(generator, "héllo wörld", 12, chat=False), solo(generator, "pack my box", 12)]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, "n=1"),
        ({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, "temperature"),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "role"),
        ({"messages": [{"role": "user", "content": "hi"}], "stop": [1]}, "stop"),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**6}, "max_tokens"),
    ],
)
def test_bad_requests_get_400_with_a_message(client, body, words):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, **body)
    assert words in caught.value.body["message"]


def test_malformed_json_unknown_model_and_route(servers, client):
    url = servers[0].url
    reply = httpx.post(url + "/chat/completions", content=b'{"model": ', headers={"content-type": "application/json"})
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]["message"]
    assert httpx.post(url + "/completions", json=[1, 2]).status_code == 400
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="gpt-4", prompt="hi")
    assert caught.value.body["code"] == "model_not_found"
    assert set(httpx.get(url + "/nothing").json()["error"]) == {"message", "type", "param", "code"}


def _new_stderr(server: Server, since: int, wait_s: float = 1.5) -> str:
    """What `server` wrote on stderr after its first `since` lines, given `wait_s` to write it."""
    time.sleep(wait_s)
    return "".join(server.stderr[since:])


def test_a_deeply_nested_body_gets_400_and_no_traceback(servers):
    server = servers[0]
    since = len(server.stderr)
    body = '{"a":' * 100_000 + "1" + "}" * 100_000
    reply = httpx.post(
        server.url + "/chat/completions", content=body, headers={"content-type": "application/json"}, timeout=60
    )
    assert reply.status_code == 400, reply.text
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}
    assert "nested too deeply" in reply.json()["error"]["message"]
    logged = _new_stderr(server, since)
    assert "Traceback" not in logged and "RecursionError" not in logged, logged


def test_a_client_gone_mid_body_leaves_no_traceback(servers, client):
    server = servers[0]
    since = len(server.stderr)
    host, port = server.url.removeprefix("http://").removesuffix("/v1").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            connection.sendall(f"{head}Content-Length: 1000\r\n\r\n".encode() + b'{"model": ')
            time.sleep(0.2)
    logged = _new_stderr(server, since)
    assert "Traceback" not in logged and "ClientDisconnect" not in logged, logged
    assert client.models.list().data  # the server is still fine


def test_a_request_head_that_never_ends_is_closed_while_others_are_answered(servers, client):
    host, port = servers[0].url.removeprefix("http://").removesuffix("/v1").split(":")
    with socket.create_connection((host, int(port)), timeout=HEAD_S + 30) as slow:
        start = time.monotonic()
        slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: applica")  # and nothing more
        assert client.completions.create(model=MODEL, prompt="hi", max_tokens=2).choices  # meanwhile, served
        received = b""
        while chunk := slow.recv(4096):
            received += chunk
        waited = time.monotonic() - start
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), received
    assert HEAD_S - 0.1 <= waited < HEAD_S + 10


def test_api_key_is_required(servers):
    url = servers[1].url
    wrong = openai.OpenAI(base_url=url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    assert httpx.get(url + "/models").status_code == 401  # no key at all
    assert httpx.get(url.removesuffix("/v1") + "/health").status_code == 200  # health needs none
    right = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
    assert right.completions.create(model=MODEL, prompt="hi", max_tokens=4).choices[0].text is not None


def test_a_full_queue_answers_503(servers):
    url = servers[1].url + "/completions"
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 400}
    httpx.post(url, json=body, headers=headers, timeout=120)  # compiled once before the burst
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda _: httpx.post(url, json=body, headers=headers, timeout=120), range(12)))
    statuses = [reply.status_code for reply in replies]
    assert 503 in statuses and 200 in statuses, statuses
    busy = next(reply for reply in replies if reply.status_code == 503)
    assert busy.headers["retry-after"] and busy.json()["error"]["code"] == "queue_full"


def test_sigterm_finishes_the_open_stream_and_exits_0(servers):
    server = servers[1]
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 200, "stream": True}
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.stream("POST", server.url + "/completions", json=body, headers=headers, timeout=120) as reply:
        lines = reply.iter_lines()
        assert next(lines).startswith("data: ")
        server.process.send_signal(signal.SIGTERM)
        rest = [line for line in lines if line]
    assert rest[-1] == "data: [DONE]" and len(rest) > 2  # the answer went on to its end
    assert server.process.wait(timeout=60) == 0
