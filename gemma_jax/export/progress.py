"""Bytes written by an export's stages, reported as the dashboard's side jobs report progress.

Each stage reports through a `gemma_jax.jobs.progress.ProgressReporter` (`GJ-PROGRESS` lines on
the command's stdout, which the Export page shows; the libraries' own log lines never are): the
stage in words and, where the stage writes bytes, how many of the total, in KB or MB. No JAX import.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Self

from gemma_jax.jobs.progress import ProgressReporter

_KB, _MB = 1024, 1024 * 1024


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


class ByteProgress:
    """One stage's bytes, reported at most every `interval_s` (and always the last), in MB (KB for
    totals under 10 MB). `total` may be an estimate: a count past it is reported without a total."""

    def __init__(self, report: ProgressReporter, stage: str, total: int | None, interval_s: float = 0.5) -> None:
        self._report, self.stage, self.total, self._interval = report, stage, total, interval_s
        self._unit, self._size = ("MB", _MB) if (total or 0) >= 10 * _MB else ("KB", _KB)
        self._last = float("-inf")

    def __call__(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self._interval:
            return
        self._last = now
        total = self.total if self.total and done <= self.total else None
        if total is None:
            self._report(self.stage, detail=f"{format_size(done)} written")
            return
        self._report(self.stage, round(done / self._size), max(1, round(total / self._size)), unit=self._unit)


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            pass  # a temporary file the writer just removed
    return total


class FolderWatch:
    """While a library writes into `folder` (Keras saving a preset), report how many bytes it holds."""

    def __init__(self, folder: Path, report: ByteProgress, interval_s: float = 0.5) -> None:
        self._folder, self._report, self._interval = folder, report, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gj-export-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._report(folder_bytes(self._folder))

    def __enter__(self) -> Self:
        self._report(0, final=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._report(folder_bytes(self._folder), final=True)
