"""A plot's data for a long run: new points are streamed, and the series is thinned when it grows too long.

A browser plot with hundreds of thousands of points is slow to draw and to ship, so a
series keeps at most `max_points`: when it goes over, every other point is dropped and
from then on only every `stride`-th new point is kept. The view applies the result:
`stream` the new points, or `replace` the whole source after a thinning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_MAX_POINTS = 2000


@dataclasses.dataclass
class SeriesUpdate:
    """What a plot's ColumnDataSource must do: "stream" `data`, or "replace" its data with `data`."""

    kind: str
    data: dict[str, list[Any]]


class Series:
    """Columns of one plot's points, decimated by stride to stay under `max_points`."""

    def __init__(self, columns: Sequence[str], max_points: int = DEFAULT_MAX_POINTS) -> None:
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points}")
        self.columns = tuple(columns)
        self.max_points = max_points
        self.stride = 1
        self.seen = 0  # points offered so far, kept or not
        self.data: dict[str, list[Any]] = {c: [] for c in self.columns}

    def __len__(self) -> int:
        return len(self.data[self.columns[0]])

    def clear(self) -> None:
        self.stride, self.seen = 1, 0
        self.data = {c: [] for c in self.columns}

    def add(self, rows: Sequence[Mapping[str, Any]]) -> SeriesUpdate | None:
        """Take new points (missing columns become NaN); None when nothing changes for the plot."""
        kept: dict[str, list[Any]] = {c: [] for c in self.columns}
        for row in rows:
            if self.seen % self.stride == 0:
                for column in self.columns:
                    value = row.get(column)
                    kept[column].append(float("nan") if value is None else value)
            self.seen += 1
        if not kept[self.columns[0]]:
            return None
        for column in self.columns:
            self.data[column].extend(kept[column])
        if len(self) <= self.max_points:
            return SeriesUpdate("stream", kept)
        while len(self) > self.max_points:
            self.stride *= 2
            self.data = {c: values[::2] for c, values in self.data.items()}
        return self.snapshot()

    def snapshot(self) -> SeriesUpdate:
        """Everything kept, as a "replace" (copied: the plot must not share the lists this keeps growing)."""
        return SeriesUpdate("replace", {c: list(v) for c, v in self.data.items()})
