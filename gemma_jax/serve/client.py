"""GenerationClient: talk to a `python -m gemma_jax.serve` worker process (no JAX import here).

The worker starts on first use. A reader thread hands each reply line to the
queue of the request it answers, so several streams (fine-tuned and base) can
run at once from different threads. Leaving a `stream` early cancels it in the
worker. If the worker dies, every waiting call raises GenerationError with the
end of its stderr.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Self

from gemma_jax.serve.protocol import base_source

_STDERR_LINES = 40


class GenerationError(RuntimeError):
    """A request the worker refused or could not finish, with its message (or why the worker died)."""


class GenerationClient:
    """Load models into one worker process by name, and stream their answers."""

    def __init__(self, python: str = sys.executable, env: Mapping[str, str] | None = None):
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[str, queue.Queue] = {}
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._ready = threading.Event()
        self._ended: str | None = None

    # -- public API -----------------------------------------------------------------------------
    def load(
        self,
        name: str,
        source: str,
        step: int | None = None,
        timeout: float | None = None,
        weights: str = "auto",
    ) -> dict:
        """Load `source` as `name` (replacing a model of that name); returns {"name","source","step","parameters",
        "weights"}.

        source: a run directory (its fine-tuned weights at `step`, default latest), base_source(run_dir),
        or a model source such as "gemma3_270m" / "tiny:gemma3". weights: "auto" decodes with the model's
        own weights (its own output); "int8" is faster on CPU but approximate.
        """
        request = {"op": "load", "name": name, "source": str(source), "step": step, "weights": weights}
        replies = self._send(request)
        try:
            reply = self._next(replies, timeout)
        finally:
            self._forget(replies)
        return reply["result"]

    def stream(
        self,
        name: str,
        prompt: str,
        *,
        temperature: float = 0.7,
        top_k: int | None = None,
        top_p: float | None = None,
        max_new_tokens: int = 128,
        seed: int = 0,
        chat: bool = True,
        history: Sequence[Mapping[str, str]] = (),
        on_note: Callable[[str], None] | None = None,
    ) -> Iterator[str]:
        """The answer of model `name` to `prompt`, as text pieces as they are decoded.

        chat: wrap the prompt in the chat template (as training did); False sends it as-is.
        history: the conversation so far ({"role": "user"|"model", "text"} turns, chat only); the worker
        leaves out the oldest exchanges when they do not all fit, and on_note(message) says so.
        Closing the iterator early (break, or .close()) cancels the generation in the worker.
        """
        request = {
            "op": "generate",
            "name": name,
            "prompt": prompt,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "max_new_tokens": max_new_tokens,
            "seed": seed,
            "chat": chat,
        }
        if history:
            request["history"] = [{"role": turn["role"], "text": turn["text"]} for turn in history]
        replies = self._send(request)
        finished = False
        try:
            while True:
                reply = self._next(replies, None)
                if reply["event"] == "done":
                    finished = True
                    return
                if reply["event"] == "note":
                    if on_note is not None:
                        on_note(str(reply.get("message", "")))
                    continue
                yield reply["text"]
        except GenerationError:
            finished = True
            raise
        finally:
            if not finished:
                self._cancel(replies.request_id)
            self._forget(replies)

    def base_source(self, run_dir) -> str:
        """The source that loads the model `run_dir` started from (same seed and vocabulary for tiny models)."""
        return base_source(str(run_dir))

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self, timeout: float = 10.0) -> None:
        """Ask the worker to exit (it frees its models); kill it if it does not within `timeout`."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                self._write({"op": "shutdown"})
                process.stdin.close()
            except (OSError, ValueError):
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for reader in (self._reader, self._stderr_reader):
            reader.join(timeout=5)  # they close the worker's pipes once it has exited
        self._process = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the worker process -----------------------------------------------------------------------
    def _start(self) -> None:
        if self.running:
            return
        self._ready.clear()
        self._ended = None
        self._process = subprocess.Popen(
            [self.python, "-m", "gemma_jax.serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env=self.env,
        )
        self._stderr_reader = threading.Thread(target=self._read_stderr, args=(self._process,), daemon=True)
        self._reader = threading.Thread(
            target=self._read_replies, args=(self._process, self._stderr_reader), daemon=True
        )
        self._stderr_reader.start()
        self._reader.start()

    def _read_replies(self, process: subprocess.Popen, stderr_reader: threading.Thread) -> None:
        for line in process.stdout:
            try:
                reply = json.loads(line)
            except ValueError:
                self._stderr.append(line.rstrip())
                continue
            if reply.get("event") == "ready":
                self._ready.set()
                continue
            with self._lock:
                target = self._waiting.get(reply.get("id"))
            if target is not None:
                target.put(reply)
        process.stdout.close()
        code = process.wait()
        with self._lock:  # no request is being written now
            try:
                process.stdin.close()
            except OSError:  # bytes still buffered for a worker that is gone
                pass
        stderr_reader.join(timeout=2)  # its last words, for the message below
        tail = "\n".join(list(self._stderr)[-15:])
        self._ended = f"the generation worker exited (code {code})" + (f":\n{tail}" if tail else "")
        with self._lock:
            waiting = list(self._waiting.values())
        for target in waiting:
            target.put({"event": "error", "message": self._ended})

    def _read_stderr(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self._stderr.append(line.rstrip())
        process.stderr.close()

    def _write(self, message: dict) -> None:
        with self._lock:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()

    def _send(self, message: dict) -> _Replies:
        with self._lock:
            if not self.running:
                self._start()
            replies = _Replies(f"r{next(self._ids)}")
            self._waiting[replies.request_id] = replies
        try:
            self._write({**message, "id": replies.request_id})
        except (OSError, ValueError) as error:
            self._forget(replies)
            self._reader.join(timeout=5)  # a worker that died at start: say why, not "broken pipe"
            raise GenerationError(self._ended or f"cannot reach the generation worker: {error}") from error
        return replies

    def _next(self, replies: _Replies, timeout: float | None) -> dict:
        try:
            reply = replies.get(timeout=timeout)
        except queue.Empty:
            raise GenerationError(f"the generation worker did not answer within {timeout:.0f} s") from None
        if reply["event"] == "error":
            raise GenerationError(reply["message"])
        return reply

    def _cancel(self, request_id: str) -> None:
        if self.running:
            try:
                self._write({"op": "cancel", "target": request_id, "id": f"cancel-{request_id}"})
            except (OSError, ValueError):
                pass

    def _forget(self, replies: _Replies) -> None:
        with self._lock:
            self._waiting.pop(replies.request_id, None)


class _Replies(queue.Queue):
    """The replies to one request."""

    def __init__(self, request_id: str):
        super().__init__()
        self.request_id = request_id
