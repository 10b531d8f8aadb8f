"""One request's way through the decoder: its ticket in the queue, then its row of a batch.

The scheduler thread feeds each row the token columns of its batch; the row turns its own tokens
into text (TextDeltas: whole characters, as `generate` decodes them, special tokens skipped as
GemmaTextTokenizer.special_ids says), cuts it at stop strings and hands the pieces to the request's `deliver`
callback, which the HTTP side made safe to call from another thread. A row ends at its stop token
("stop"), a stop string ("stop"), its own token limit ("length"), its deadline (an error) or when its
client went away (cancelled: nothing more is sent).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gemma_jax.models.decoding.text_stream import TextDeltas
from gemma_jax.serve.openai.protocol import ApiError, Sampling
from gemma_jax.serve.openai.stops import StopStrings


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finished:
    reason: str  # "stop" or "length", as OpenAI's finish_reason
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    error: ApiError


Event = Delta | Finished | Failed
_ids = itertools.count()


def timeout_error(seconds: float) -> ApiError:
    return ApiError(
        504,
        f"the request took longer than {seconds:g} s (the server's --request-timeout); ask for fewer tokens or retry",
        type="timeout_error",
        code="timeout",
    )


class Ticket:
    """A request for the scheduler: prompt ids, settings, where its events go, and its deadline."""

    def __init__(
        self,
        prompt_ids: list[int],
        sampling: Sampling,
        max_new_tokens: int,
        deliver: Callable[[Event], None],
        timeout_s: float,
        exact_text: bool = False,
    ):
        self.id = next(_ids)
        self.exact_text = exact_text  # a raw completion: its text exactly (stripped for a chat answer)
        self.prompt_ids = prompt_ids
        self.sampling = sampling
        self.max_new_tokens = max_new_tokens
        self.deliver = deliver
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.cancelled = threading.Event()  # the client went away or gave up: decode no more for it
        self.batch_key = sampling.batch_key(self.id)

    def cancel(self) -> None:
        self.cancelled.set()


class Row:
    """The decoding progress of one ticket inside a batch."""

    def __init__(
        self,
        ticket: Ticket,
        decode: Callable[[list[int]], str],
        stop_ids: Sequence[int],
        skip_ids: frozenset[int] = frozenset(),
    ):
        self.ticket = ticket
        self.finished = False
        self.tokens = 0
        self._decode = decode
        self._text_ids: list[int] = []  # every text token so far (special tokens skipped), to count a stop string's
        self._stop_ids = frozenset(stop_ids)
        self._skip_ids = skip_ids  # special tokens (GemmaTextTokenizer.special_ids): counted, never decoded to text
        self._deltas = TextDeltas(decode, strip=not ticket.exact_text)
        self._stops = StopStrings(ticket.sampling.stop)

    def feed(self, tokens: Sequence[int]) -> None:
        """Take this row's next decoded tokens (its part of one chunk's columns)."""
        if self.finished:
            return
        if self.ticket.cancelled.is_set():
            self.finished = True
            return
        if time.monotonic() > self.ticket.deadline:
            self.fail(timeout_error(self.ticket.timeout_s))
            return
        new, counted, reason = [], [], None
        before = self.tokens
        for token in tokens:
            if token < 0:  # no token: the decoder had stopped this row already
                continue
            if token in self._stop_ids:
                reason = "stop"
                break
            counted.append(int(token))
            if token not in self._skip_ids:
                new.append(int(token))
            self.tokens += 1
            if self.tokens >= self.ticket.max_new_tokens:
                reason = "length"
                break
        piece = self._deltas.add(new, final=reason is not None)
        was_stopped = self._stops.stopped
        self._emit_text(piece, reason)
        if self._stops.stopped and not was_stopped:
            # The chunk's later tokens came after the stop string: the answer is the tokens up to the one
            # that completed it (as OpenAI's and vLLM's usage count them).
            self.tokens = before + self._tokens_to_stop(counted)
        self._text_ids.extend(new)
        self._finish(reason)

    def end(self) -> None:
        """The batch ran out of tokens: what is held back, then "length"."""
        if not self.finished:
            self._emit_text(self._deltas.add([], final=True), "length")
            self._finish("length")

    def fail(self, error: ApiError) -> None:
        if not self.finished:
            self.finished = True
            self.ticket.deliver(Failed(error))

    def _emit_text(self, piece: str, reason: str | None) -> None:
        text = self._stops.add(piece) if piece else ""
        if reason is not None:
            text += self._stops.flush()
        if text:
            self.ticket.deliver(Delta(text))

    def _finish(self, reason: str | None) -> None:
        if self._stops.stopped:
            reason = "stop"
        if reason is not None:
            self.finished = True
            self.ticket.deliver(Finished(reason, len(self.ticket.prompt_ids), self.tokens))

    def _tokens_to_stop(self, counted: list[int]) -> int:
        """How many of this chunk's tokens it took to complete a stop string: the shortest prefix whose
        text holds one (decoded prefix by prefix, only on this path). A stop string held back from the
        chunk before (trailing whitespace) takes none; one that no prefix shows counts the whole chunk."""
        ids = list(self._text_ids)
        for size in range(len(counted) + 1):
            if size:
                token = counted[size - 1]
                if token in self._skip_ids:
                    continue
                ids.append(token)
            text = self._decode(ids)
            if not self.ticket.exact_text:
                text = text.lstrip()  # a chat answer starts at its first non-space character
            if any(stop in text for stop in self.ticket.sampling.stop):
                return size
        return len(counted)
