"""Progress lines of the dashboard's side jobs (evaluate, export): printed by the job, parsed by the page.

A job prints `GJ-PROGRESS {json}` lines on stdout among whatever else it and its libraries print
(absl and XLA chatter lands on the same pipe); the page keeps the newest such line and shows its
`message`, with a bar when it has a total. The JSON carries the message too, so a person reading
the command's output in a terminal needs no parser. No JAX import here.
"""

from __future__ import annotations

import json
import sys
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

    @property
    def message(self) -> str:
        """In words, e.g. `loss: 3/12 batches, fine-tuned model` or `loading the model`."""
        text = self.stage
        if self.total is not None:
            text += f": {self.done or 0}/{self.total}" + (f" {self.unit}" if self.unit else "")
        return text + (f", {self.detail}" if self.detail else "")

    @property
    def fraction(self) -> float | None:
        """done/total in [0, 1], or None when the stage has no count."""
        if not self.total:
            return None
        return min(max((self.done or 0) / self.total, 0.0), 1.0)

    def line(self) -> str:
        fields = {"stage": self.stage, "done": self.done, "total": self.total, "unit": self.unit}
        return PREFIX + json.dumps({**fields, "detail": self.detail, "message": self.message})


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
    """Print one progress line (flushed at once, so a page following the pipe sees it now)."""
    print(Progress(stage, done, total, unit, detail).line(), file=out or sys.stdout, flush=True)


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
