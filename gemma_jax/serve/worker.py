"""The generation worker: loaded models by name, and answers streamed a chunk at a time.

A reader thread takes requests off stdin (cancellations act at once); the main
thread loads models and advances every active generation by one chunk in turn,
so two answers (fine-tuned and base) stream side by side. A failed request is
answered with its message and the worker carries on. A chat request may carry the
conversation so far (`history`): it is formatted with training's chat template and
trimmed to what fits (conversation.py), and a `note` reply says what was left out.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import IO

import numpy as np

from gemma_jax.config import ConfigError
from gemma_jax.data import prompt_text
from gemma_jax.data.errors import DataError
from gemma_jax.models.decoding.fit import available_bytes, decoding_problem
from gemma_jax.models.generation import NEW_TOKEN_BUCKET, PROMPT_BUCKET, Generator
from gemma_jax.models.loading import ModelLoadError
from gemma_jax.serve.conversation import FittedConversation, fit_conversation, parse_history
from gemma_jax.serve.sources import load_source

USER_ERRORS = (ConfigError, DataError, ModelLoadError, ValueError, OSError)


class Worker:
    """Serve requests from `requests` (JSON lines) and write replies to `replies` until shutdown or EOF."""

    def __init__(self, requests: IO[str], replies: IO[str]):
        self._requests = requests
        self._replies = replies
        self._write_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._cancelled: set = set()
        self._models: dict[str, tuple[Generator, dict]] = {}
        self._active: dict = {}  # request id -> iterator of text pieces

    def send(self, **message) -> None:
        with self._write_lock:
            self._replies.write(json.dumps(message) + "\n")
            self._replies.flush()

    def _read(self) -> None:
        for line in self._requests:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except ValueError as error:
                request = f"not JSON ({error})"
            if not isinstance(request, dict):
                self.send(id=None, event="error", message=f"unreadable request {line.strip()[:200]!r}: {request}")
                continue
            if request.get("op") == "cancel":
                self._cancelled.add(request.get("target"))
            else:
                self._queue.put(request)
        self._queue.put({"op": "shutdown"})  # the client went away

    def serve(self) -> None:
        threading.Thread(target=self._read, name="requests", daemon=True).start()
        self.send(event="ready")
        while True:
            try:
                request = self._queue.get(block=not self._active)
            except queue.Empty:
                request = None
            if request is not None:
                if request.get("op") == "shutdown":
                    return
                self._handle(request)
            for request_id in list(self._active):
                self._advance(request_id)

    def _handle(self, request: dict) -> None:
        request_id, op = request.get("id"), request.get("op")
        try:
            if op == "load":
                self.send(id=request_id, event="result", result=self._load(request))
            elif op == "generate":
                if request_id in self._cancelled:
                    self._cancelled.discard(request_id)
                    self.send(id=request_id, event="done", cancelled=True)
                else:
                    self._active[request_id] = self._pieces(request, request_id)
            else:
                raise ValueError(f"unknown op {op!r}; use one of load, generate, cancel, shutdown")
        except USER_ERRORS as error:
            self.send(id=request_id, event="error", message=str(error))
        except Exception as error:  # noqa: BLE001  (the worker must survive whatever one request does)
            self.send(id=request_id, event="error", message=f"{type(error).__name__}: {error}")

    def _advance(self, request_id) -> None:
        pieces = self._active[request_id]
        try:
            if request_id in self._cancelled:
                self._cancelled.discard(request_id)
                pieces.close()
                del self._active[request_id]
                self.send(id=request_id, event="done", cancelled=True)
                return
            self.send(id=request_id, event="delta", text=next(pieces))
        except StopIteration:
            del self._active[request_id]
            self.send(id=request_id, event="done", cancelled=False)
        except Exception as error:  # noqa: BLE001
            del self._active[request_id]
            message = str(error) if isinstance(error, USER_ERRORS) else f"{type(error).__name__}: {error}"
            self.send(id=request_id, event="error", message=message)

    def _load(self, request: dict) -> dict:
        name, source = request.get("name"), request.get("source")
        if not name or not source:
            raise ValueError("a load request needs a name and a source")
        step = request.get("step")
        self._models.pop(name, None)  # free the old model of that name before loading the new one
        model, loaded_step = load_source(source, None if step is None else int(step))
        generator = Generator(model, max_length=model.context_length, weights=str(request.get("weights") or "auto"))
        parameters = int(sum(np.prod(v.shape) for v in model.backbone.weights))
        facts = {
            "name": name,
            "source": source,
            "step": loaded_step,
            "parameters": parameters,
            "weights": generator.weight_dtype,
        }
        self._models[name] = (generator, facts)
        return facts

    def _pieces(self, request: dict, request_id=None) -> Iterator[str]:
        name = request.get("name")
        if name not in self._models:
            loaded = ", ".join(sorted(self._models)) or "none"
            raise ValueError(f"no model named {name!r} is loaded (loaded: {loaded}); load it first")
        generator, _ = self._models[name]
        prompt = str(request.get("prompt") or "")
        if not prompt.strip():
            raise ValueError("the prompt is empty; type a question or instruction")
        temperature = float(request.get("temperature", 0.7))
        top_k, top_p = request.get("top_k"), request.get("top_p")
        max_new_tokens = int(request.get("max_new_tokens", 128))
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        history = parse_history(request.get("history"))
        fitted = None
        if not request.get("chat", True):
            if history:
                raise ValueError("a raw prompt (chat off) takes no history; send the conversation with chat on")
            text = prompt
        elif not history:
            text = prompt_text(prompt)
        else:
            fitted = self._fit(generator, history, prompt, max_new_tokens)
            text = fitted.prompt
        # What the model reads: <bos> and the text (Generator._encode); it answers in what is left of its context.
        tokens = fitted.tokens if fitted is not None else 1 + len(generator.model.tokenizer.encode(text))
        context = generator.model.context_length  # the worker's Generator's max_length
        if context and tokens >= context:  # no room for one new token: the stream would end at once, empty
            raise ValueError(_too_long_message(tokens, context, left_out=fitted is not None and fitted.exchanges > 0))
        notes = [_dropped_note(fitted)] if fitted is not None and fitted.dropped else []
        if context and tokens + max_new_tokens > context:
            notes.append(
                f"The answer can be at most {context - tokens:,} tokens: the prompt takes {tokens:,} of the "
                f"{context:,} this model reads. Shorten the prompt for a longer answer."
            )
        if notes:
            dropped = fitted.dropped if fitted is not None else 0
            self.send(id=request_id, event="note", dropped=dropped, message=" ".join(notes))
        pieces = generator.stream(
            text,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=None if top_k is None else int(top_k),
            top_p=None if top_p is None else float(top_p),
            seed=request.get("seed", 0),
        )
        return pieces

    @staticmethod
    def _fit(generator: Generator, history: list, prompt: str, max_new_tokens: int) -> FittedConversation:
        """The conversation trimmed so that it, and room for the answer, fit the model and this machine."""
        context = generator.model.context_length
        room = min(max_new_tokens, context // 2) if context else max_new_tokens
        free = available_bytes()

        def problem(tokens: int) -> str | None:
            if context and tokens + room > context:
                return f"the model reads at most {context:,} tokens, answer included"
            return decoding_problem(
                generator.config,
                batch=1,
                prompt_tokens=tokens,
                prompt_slots=_round_up(tokens, PROMPT_BUCKET),
                new_slots=_round_up(max_new_tokens, NEW_TOKEN_BUCKET),
                context_length=context,
                free_bytes=free,
            )

        tokenizer = generator.model.tokenizer
        return fit_conversation(history, prompt, lambda text: 1 + len(tokenizer.encode(text)), problem)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _too_long_message(tokens: int, context: int, left_out: bool) -> str:
    """Why a prompt gets no answer: it alone fills the model's context. The Playground (ui/state/playground.py,
    TOO_LONG) shows it as it is, so keep its start: "This prompt is N tokens; this model reads at most M"."""
    message = (
        f"This prompt is {tokens:,} tokens; this model reads at most {context:,} (prompt and answer together). "
        "Shorten it."
    )
    if left_out:
        message += " (The earlier exchanges were left out already: the new prompt alone does not fit.)"
    return message


def _dropped_note(fitted: FittedConversation) -> str:
    """What the user reads when the oldest exchanges were left out of the prompt."""
    n, dropped = fitted.exchanges, fitted.dropped
    if n == 1:
        unseen = "the earlier exchange"
    elif dropped == n:
        unseen = f"any of the {n} earlier exchanges"
    else:
        unseen = f"the {dropped} oldest of the {n} earlier exchanges"
    kept = n - dropped
    seen = f"the last {kept} exchange{'s' if kept > 1 else ''} and the new prompt" if kept else "the new prompt alone"
    return (
        f"The model did not see {unseen}: with them the conversation does not fit ({fitted.problem}). "
        f"It answered from {seen} ({fitted.tokens:,} tokens). Start a New chat to clear the conversation."
    )
