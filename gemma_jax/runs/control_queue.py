"""control.json: the requests waiting for a run to take them, oldest first.

A person may click Set learning rate and then Save checkpoint before the run reads either (it reads
between steps, and a step or the model load can take minutes). Each request waits its turn rather
than replacing the one before, so a change the page confirmed is never dropped. Several writers (the
dashboard, `gemma-jax control`, the job runner) and the run itself change the file, each under an
exclusive lock on the run directory (flock on its descriptor, so no lock file is left in it), and the
file is replaced atomically, so readers without the lock see the queue before or after a change,
never half of one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gemma_jax.runs.files import atomic_write_json
from gemma_jax.runs.schema import Control

REQUESTS = "requests"
MAX_PENDING = 64  # a run that never reads (stuck loading) cannot make the file grow without end


class ControlQueue:
    """The pending requests of the run whose control file is `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the run directory itself: no lock file is left behind in it."""
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(folder, fcntl.LOCK_UN)
        finally:
            os.close(folder)

    def pending(self) -> list[dict[str, Any]]:
        """The requests not taken yet, oldest first ([] for no file or an unreadable one)."""
        try:
            content = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return []
        if isinstance(content, dict) and Control.ACTION in content:  # one request, as runs before queues wrote
            return [content]
        requests = content.get(REQUESTS) if isinstance(content, dict) else None
        return [r for r in requests if isinstance(r, dict)] if isinstance(requests, list) else []

    def add(self, request: dict[str, Any]) -> None:
        with self._locked():
            queue = [*self.pending(), request][-MAX_PENDING:]
            atomic_write_json(self.path, {REQUESTS: queue})

    def remove(self, request_id: str | None = None) -> None:
        """Take away the request `request_id` (a newer one stays); None: every pending request."""
        with self._locked():
            queue = [r for r in self.pending() if request_id is not None and r.get(Control.ID) != request_id]
            if queue:
                atomic_write_json(self.path, {REQUESTS: queue})
            else:
                self.path.unlink(missing_ok=True)
