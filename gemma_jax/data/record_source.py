"""The stream every reader yields: (line or row, record) pairs plus the problems found on the way.

A leaf module (it imports no reader and no dispatch code), so every reader, the format
detection in formats.py and the dispatch in reader_registry.py can share these types without
importing each other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from gemma_jax.data.report import Location, Problem

Record = tuple[int, dict]  # (1-based line or row where the record starts, its fields)


@dataclass
class RecordSource:
    """One opened source: its records stream lazily; `problems` grows while they are read.

    With `listed_per_code` set (streaming validation of files too big to hold), only that many
    problems of each code are kept; every one is still counted in `found` and the rest in `omitted`.
    """

    display: str  # the path as the user gave it: how messages name the file
    name: str  # short name for Example.source ("qa.jsonl")
    format: str
    unit: str  # "line" (text formats) or "row" (spreadsheets, Parquet, datasets)
    columns: list[str] | None  # the header, for formats that have one
    records: Iterator[Record]
    problems: list[Problem] = field(default_factory=list)
    listed_per_code: int | None = None
    found: Counter[str] = field(default_factory=Counter)  # code -> problems found (listed or not)
    omitted: int = 0  # found but not kept (over listed_per_code)
    undecodable: list[int] = field(default_factory=list)  # lines whose bytes did not decode, not yet claimed

    def claim_undecodable(self, start: int | None, end: int | None) -> bool:
        """Whether a line in [start, end) did not decode (end None: to the end of the file): the record
        starting at `start`, whose lines run up to the next record's start, holds replaced characters.
        Claimed lines are forgotten, so the list only holds lines read ahead of the records."""
        if start is None or not self.undecodable:
            return False
        inside = [n for n in self.undecodable if n >= start and (end is None or n < end)]
        self.undecodable = [n for n in self.undecodable if end is not None and n >= end]
        return bool(inside)

    def at(self, number: int | None = None, column: str | int | None = None, detail: str = "") -> Location:
        if self.unit == "line":
            return Location(self.display, line=number, column=column, detail=detail)
        return Location(self.display, row=number, column=column, detail=detail)

    def problem(self, number: int | None, message: str, column: str | int | None = None, **kw) -> None:
        code = kw.get("code", "format")
        self.found[code] += 1
        if self.listed_per_code is not None and self.found[code] > self.listed_per_code:
            self.omitted += 1
            return
        self.problems.append(Problem(self.at(number, column, kw.pop("detail", "")), message, **kw))
