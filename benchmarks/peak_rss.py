"""Peak resident memory of this process while a block runs, shared by the benchmarks.

Light on purpose (psutil only): importing it must not pull in JAX or Keras, whose own
resident memory would otherwise be counted in every figure.
"""

from __future__ import annotations

import threading
from typing import Self

import psutil

GB = 1e9


class RssSampler:
    """Peak resident memory of this process while the `with` block runs (polled in a thread)."""

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)
