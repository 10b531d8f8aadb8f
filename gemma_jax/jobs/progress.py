"""Progress lines of the dashboard's side jobs (evaluate, export): printed by the job, parsed by the page.

A job prints `GJ-PROGRESS {json}` lines on stdout among whatever else it and its libraries print
(absl and XLA chatter lands on the same pipe); the page keeps the newest such line and shows its
`message`, with a bar when it has a total. The JSON carries the message too, and a stage with a
count carries its estimated time left (from the pace since the stage began). In a terminal the line
is a bar instead, redrawn in place. No JAX import here.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TextIO

PREFIX = "GJ-PROGRESS "


@dataclass(frozen=True)
class Progress:
    """Where a job is: `stage` in words ("loss"), optionally `done` of `total` `unit`s, and a `detail`."""

    stage: str
    done: int | None = None
    total: int | None = None
    unit: str = ""
    detail: str = ""
    eta_s: float | None = None

    @property
    def message(self) -> str:
        """In words, e.g. `loss: 3/12 batches, fine-tuned model, about 40 s left` or `loading the model`."""
        text = self.stage
        if self.total is not None:
            text += f": {self.done or 0}/{self.total}" + (f" {self.unit}" if self.unit else "")
        text += f", {self.detail}" if self.detail else ""
        return text + (f", about {_duration(self.eta_s)} left" if self.eta_s is not None else "")

    @property
    def fraction(self) -> float | None:
        """done/total in [0, 1], or None when the stage has no count."""
        if not self.total:
            return None
        return min(max((self.done or 0) / self.total, 0.0), 1.0)

    def line(self) -> str:
        fields = {"stage": self.stage, "done": self.done, "total": self.total, "unit": self.unit}
        return PREFIX + json.dumps({**fields, "detail": self.detail, "eta_s": self.eta_s, "message": self.message})

    def bar(self, width: int = 24) -> str:
        """The terminal form: `[#########...............] answers: 16/39 examples, about 40 s left`."""
        if self.fraction is None:
            return self.message
        filled = round(width * self.fraction)
        return f"[{'#' * filled}{'.' * (width - filled)}] {self.message}"


def _duration(seconds: float) -> str:
    """`40 s`, `3 min 5 s`, `1 h 2 min`: what a person reads at a glance."""
    seconds = max(round(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class _Pace:
    """When each counted stage began, so a later report of it can say how long the rest will take."""

    def __init__(self) -> None:
        self._started: dict[tuple, tuple[float, int]] = {}

    def eta(self, stage: str, detail: str, done: int | None, total: int | None, now: float) -> float | None:
        if done is None or not total:
            return None
        key = (stage, detail, total)
        started_at, done_at_start = self._started.setdefault(key, (now, done))
        if done < done_at_start:  # the stage began again
            self._started[key] = (now, done)
            return None
        if done == done_at_start or done >= total:
            return None
        return (now - started_at) / (done - done_at_start) * (total - done)


_PACE = _Pace()


class ProgressReporter(Protocol):
    """What a job's steps call to say where they are: `report_progress`, or `silent` in a library call."""

    def __call__(
        self, stage: str, done: int | None = None, total: int | None = None, *, unit: str = "", detail: str = ""
    ) -> None: ...


def silent(stage: str, done: int | None = None, total: int | None = None, *, unit: str = "", detail: str = "") -> None:
    """A ProgressReporter that reports nothing (notebooks, tests)."""


def report_progress(
    stage: str,
    done: int | None = None,
    total: int | None = None,
    *,
    unit: str = "",
    detail: str = "",
    out: TextIO | None = None,
) -> None:
    """Print one progress line (flushed at once, so a page following the pipe sees it now).

    A person at a terminal gets a bar on stderr instead, redrawn in place, so that stdout keeps only
    what a script reads (the `--json` line)."""
    out = out or sys.stdout
    eta = _PACE.eta(stage, detail, done, total, time.monotonic())
    progress = Progress(stage, done, total, unit, detail, None if eta is None else round(eta, 1))
    if out.isatty():
        finished = progress.fraction is None or progress.fraction >= 1.0
        print("\r\x1b[K" + progress.bar(), end="\n" if finished else "", file=sys.stderr, flush=True)
    else:
        print(progress.line(), file=out, flush=True)


def parse_progress(line: str) -> Progress | None:
    """The Progress in a `GJ-PROGRESS` line; None for any other line, or one that is not well formed."""
    if not line.startswith(PREFIX):
        return None
    try:
        fields = json.loads(line[len(PREFIX) :])
        progress = Progress(
            stage=str(fields["stage"]),
            done=None if fields.get("done") is None else int(fields["done"]),
            total=None if fields.get("total") is None else int(fields["total"]),
            unit=str(fields.get("unit") or ""),
            detail=str(fields.get("detail") or ""),
            eta_s=None if fields.get("eta_s") is None else float(fields["eta_s"]),
        )
    except (ValueError, TypeError, KeyError):
        return None
    return progress


def latest_progress(lines: Iterable[str]) -> Progress | None:
    """The newest well-formed progress among `lines` (oldest first), or None."""
    for line in reversed(list(lines)):
        progress = parse_progress(line)
        if progress is not None:
            return progress
    return None
