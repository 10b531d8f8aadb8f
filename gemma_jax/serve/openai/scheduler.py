"""The batching scheduler: one thread decodes every queued request, concurrent ones together.

Requests wait in a bounded queue (full: 503). When the decoder is free, the scheduler waits a few
milliseconds for company (`batch_wait_s`), then takes the oldest request and up to `max_batch - 1`
more that may share its batch (protocol.Sampling.batch_key: every greedy request, or sampled ones
with equal settings) and decodes them as one batch through Generator, a chunk of tokens per
compiled call, handing each row its tokens as they come (rows.py), so streams advance together.
Requests arriving meanwhile join the next batch. A batch ends as soon as all its rows are finished,
cancelled or timed out. Batch sizes are rounded up to powers of two (filler rows of a lone <bos>),
so at most log2(max_batch) + 1 batch shapes are ever compiled; greedy rows come out the same in
any batch (left padding is masked, and positions count from each row's own start).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from gemma_jax.models.generation import STREAM_CHUNK, Generator
from gemma_jax.serve.openai.protocol import ApiError
from gemma_jax.serve.openai.rows import Failed, Row, Ticket, timeout_error

log = logging.getLogger("gemma_jax.serve")


def batch_rows(size: int, max_batch: int) -> int:
    """The compiled batch size for `size` requests: the next power of two, at most max_batch."""
    rows = 1
    while rows < size:
        rows *= 2
    return min(rows, max(max_batch, size))


class Scheduler:
    def __init__(
        self,
        generator: Generator,
        *,
        max_batch: int = 8,
        max_queue: int = 64,
        batch_wait_s: float = 0.01,
        chunk: int = STREAM_CHUNK,
    ):
        self.generator = generator
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.batch_wait_s = batch_wait_s
        self.chunk = chunk
        self.skip_ids = generator.model.tokenizer.special_ids  # counted, decoded to no text
        self.batches = 0  # batches decoded so far, and their rows (for /health and the benchmark)
        self.rows = 0
        self._waiting: deque[Ticket] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="gemma-jax-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        """Ready for requests: the decoding thread is up and not stopping."""
        return self._thread.is_alive() and not self._stopping

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def submit(self, ticket: Ticket) -> None:
        """Queue `ticket`; ApiError 503 when the queue is full or the server is stopping."""
        with self._wake:
            if self._stopping:
                raise ApiError(503, "the server is shutting down", type="server_error", code="shutting_down")
            if len(self._waiting) >= self.max_queue:
                raise ApiError(
                    503,
                    f"the server is busy: {self.max_queue} requests are already waiting (--max-queue); retry shortly",
                    type="server_error",
                    code="queue_full",
                )
            self._waiting.append(ticket)
            self._wake.notify()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Refuse new requests, answer the waiting ones 503, and let the batch in progress end."""
        with self._wake:
            self._stopping = True
            waiting, self._waiting = list(self._waiting), deque()
            self._wake.notify()
        for ticket in waiting:
            ticket.deliver(Failed(ApiError(503, "the server is shutting down", type="server_error")))
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._decode(batch)
            except Exception:  # the thread must outlive whatever one batch does
                log.exception("decoding a batch failed")

    def _next_batch(self) -> list[Ticket] | None:
        """The oldest live request and the others that may share its batch; None when stopping."""
        with self._wake:
            while True:
                while not self._waiting and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return None
                # Company for the batch: wait briefly unless it is full already.
                end = time.monotonic() + self.batch_wait_s
                while len(self._waiting) < self.max_batch and not self._stopping and time.monotonic() < end:
                    self._wake.wait(end - time.monotonic())
                live = [t for t in self._waiting if not t.cancelled.is_set()]
                now = time.monotonic()
                for ticket in live:
                    if now > ticket.deadline:
                        ticket.deliver(Failed(timeout_error(ticket.timeout_s)))
                live = [t for t in live if now <= t.deadline]
                if not live:
                    self._waiting.clear()
                    continue
                key = live[0].batch_key
                batch = [t for t in live if t.batch_key == key][: self.max_batch]
                chosen = {t.id for t in batch}
                self._waiting = deque(t for t in live if t.id not in chosen)
                return batch

    def _decode(self, tickets: list[Ticket]) -> None:
        generator = self.generator
        tokenizer = generator.model.tokenizer
        rows = [Row(ticket, tokenizer.decode, generator.stop_ids, self.skip_ids) for ticket in tickets]
        prompts = [ticket.prompt_ids for ticket in tickets]
        prompts += [[tokenizer.bos_id]] * (batch_rows(len(prompts), self.max_batch) - len(prompts))
        sampling = tickets[0].sampling
        self.batches += 1
        self.rows += len(rows)
        columns = generator.stream_token_columns(
            prompts,
            max(ticket.max_new_tokens for ticket in tickets),
            temperature=sampling.temperature,
            top_k=sampling.top_k,
            seed=sampling.seed,
            top_p=sampling.top_p,
            chunk=self.chunk,
        )
        try:
            for block in columns:
                for index, row in enumerate(rows):
                    row.feed(block[index])
                if all(row.finished for row in rows):
                    break
        except ValueError as error:  # the prompts do not fit the model or this machine's memory
            for row in rows:
                row.fail(ApiError(400, str(error), param="messages"))
        except Exception as error:
            for row in rows:
                row.fail(ApiError(500, f"decoding failed: {type(error).__name__}: {error}", type="server_error"))
            raise
        finally:
            columns.close()
        for row in rows:
            row.end()
