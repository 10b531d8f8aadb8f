"""Backoff for failed logins, per client address and per user name, so passwords cannot be guessed fast.

After `free_failures` failures in a row the next try must wait 1 s, then 2, 4, ... up to
`max_wait_s`; a try during the wait is refused without checking the password. A success
clears the client's count (the name's count too).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self, *, free_failures: int = 5, max_wait_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.free_failures = free_failures
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (failures in a row, time of the last)

    def _wait(self, key: str) -> float:
        count, last = self._failures.get(key, (0, 0.0))
        if count < self.free_failures:
            return 0.0
        delay = min(self.max_wait_s, 2.0 ** (count - self.free_failures))
        return max(0.0, last + delay - self._clock())

    def retry_after(self, client: str, user: str) -> float:
        """Seconds before this client (or anyone, for this user name) may try again; 0 to go ahead."""
        with self._lock:
            return max(self._wait(f"client:{client}"), self._wait(f"user:{user}"))

    def failed(self, client: str, user: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (f"client:{client}", f"user:{user}"):
                count, _ = self._failures.get(key, (0, 0.0))
                self._failures[key] = (count + 1, now)
            if len(self._failures) > 100_000:  # a flood of made-up names: keep the table bounded
                oldest = sorted(self._failures, key=lambda k: self._failures[k][1])[:50_000]
                for key in oldest:
                    del self._failures[key]

    def succeeded(self, client: str, user: str) -> None:
        with self._lock:
            self._failures.pop(f"client:{client}", None)
            self._failures.pop(f"user:{user}", None)
