"""The data validation report: every finding with its place, as a structure a UI shows and a CLI prints.

A report is built before training (see checks.py). The user's file is never
changed: `clean_examples` returns the kept examples and the rows it dropped, with why.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field

from gemma_jax.data import limits
from gemma_jax.data.example import Example
from gemma_jax.data.preference_pair import PreferencePair

SEVERITIES = ("error", "warning")
DROP_REASONS = ("duplicate", "too_long", "low_quality", "warning")


@dataclass(frozen=True)
class Location:
    """Where a finding is: a file, a line (text formats) or row (tables, datasets), a column.

    `column` is a column name, or an int for a character position on the line.
    `detail` adds what neither says ("the header", "message 2", "every line").
    """

    file: str
    line: int | None = None
    row: int | None = None
    column: str | int | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.column, str) and len(self.column) > 100:  # a hostile header: keep messages short
            object.__setattr__(self, "column", limits.shorten(self.column, 100))

    def where(self) -> str:
        """The place without the file name: "line 3, column 'prompt'"."""
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        elif self.row is not None:
            parts.append(f"row {self.row}")
        if self.detail.startswith("(") and parts:
            parts[-1] += f" {self.detail}"
        if isinstance(self.column, int):
            parts.append(f"column {self.column}")
        elif self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.detail and not self.detail.startswith("("):
            parts.append(self.detail)
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{self.file} {where}" if where else self.file

    @property
    def key(self) -> tuple[str, int | None]:
        """(file, line or row): what identifies one record."""
        return (self.file, self.line if self.line is not None else self.row)


@dataclass(frozen=True)
class Problem:
    """One finding. `lines` lists every line when one finding covers several rows."""

    location: Location
    message: str
    severity: str = "error"  # error | warning
    code: str = "format"  # format | columns | missing | empty | duplicate | too_long | balance | quality | ...
    lines: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.message) > limits.LIMITS.max_message_chars:  # e.g. a message quoting a huge value
            object.__setattr__(self, "message", limits.shorten(self.message, limits.LIMITS.max_message_chars))

    def where(self) -> str:
        if len(self.lines) > 1:
            unit = "lines" if self.location.line is not None else "rows"
            shown = ", ".join(str(n) for n in self.lines[:5])
            more = ", ..." if len(self.lines) > 5 else ""
            return f"{unit} {shown}{more} ({len(self.lines)} rows)"
        return self.location.where()

    def text(self) -> str:
        """The finding as one sentence without the file name (DataError adds it once)."""
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def __str__(self) -> str:
        return f"{self.location.file} {self.text()}"


@dataclass(frozen=True)
class Quality:
    """A score from 0 (unusable) to 1 (nothing to remark) and the reasons it is below 1."""

    location: Location
    score: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class DroppedRow:
    location: Location
    reasons: tuple[str, ...]


@dataclass
class DataReport:
    """Everything found in one data source; `ok` when nothing stops training."""

    file: str
    format: str = ""
    shape: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # role -> column name used
    records: int = 0
    examples: list[Example | PreferencePair] = field(default_factory=list, repr=False)  # usable rows
    problems: list[Problem] = field(default_factory=list)
    quality: list[Quality] = field(default_factory=list)  # one per example, same order
    empty_values: dict[str, int] = field(default_factory=dict)  # column -> rows with it missing or empty
    duplicates: int = 0
    too_long: int = 0
    tokens_cut: int = 0
    tokens_estimated: bool = True  # no tokenizer given: lengths are characters / 4
    label_counts: dict[str, int] = field(default_factory=dict)
    usable: int = 0  # rows that became examples (== len(examples) unless they were not kept)
    quality_total: float = 0.0  # sum of every example's score (the mean without keeping them)
    low_quality: int = 0  # examples scoring below 0.5
    omitted_problems: int = 0  # found but not listed (streaming reports list LISTED_PER_CODE per kind)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def clean_examples(
        self, drop: Collection[str] = ("duplicate",), min_quality: float = 0.0
    ) -> tuple[list[Example | PreferencePair], list[DroppedRow]]:
        """Examples to train on, and every dropped row with its reasons (the file is not touched).

        Rows with errors never became examples and are always listed as dropped. `drop`
        picks what else goes: duplicate, too_long, low_quality (score below
        `min_quality`) and warning (any warning on the row).
        """
        unknown = set(drop) - set(DROP_REASONS)
        if unknown:
            raise ValueError(f"unknown drop reason(s) {sorted(unknown)}; use any of {', '.join(DROP_REASONS)}")
        by_row: dict[tuple[str, int | None], list[Problem]] = {}
        for problem in self.problems:
            rows = problem.lines or (
                problem.location.line if problem.location.line is not None else problem.location.row,
            )
            for row in rows:
                by_row.setdefault((problem.location.file, row), []).append(problem)
        kept: list[Example | PreferencePair] = []
        dropped: list[DroppedRow] = []
        example_keys = set()
        for example, quality in zip(self.examples, self.quality):
            key = quality.location.key
            example_keys.add(key)
            reasons = [
                p.text()
                for p in by_row.get(key, [])
                if p.severity == "warning" and ("warning" in drop or p.code in drop)
            ]
            if "low_quality" in drop and quality.score < min_quality:
                reasons.append(f"quality {quality.score:.2f} is below {min_quality}: {'; '.join(quality.reasons)}")
            if reasons:
                dropped.append(DroppedRow(quality.location, tuple(reasons)))
            else:
                kept.append(example)
        for key, found in by_row.items():
            errors = [p for p in found if p.severity == "error"]
            if errors and key[1] is not None and key not in example_keys:
                dropped.append(DroppedRow(errors[0].location, tuple(p.text() for p in errors)))
        dropped.sort(key=lambda d: (d.location.file, d.location.key[1] or 0))
        return kept, dropped

    def to_dict(self) -> dict:
        """A JSON-ready summary (examples themselves are left out; quality lists those below 1)."""
        return {
            "file": self.file,
            "format": self.format,
            "shape": self.shape,
            "columns": self.columns,
            "ok": self.ok,
            "records": self.records,
            "examples": self.usable,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "empty_values": self.empty_values,
            "duplicates": self.duplicates,
            "too_long": self.too_long,
            "tokens_cut": self.tokens_cut,
            "tokens_estimated": self.tokens_estimated,
            "label_counts": self.label_counts,
            "mean_quality": round(self.quality_total / self.usable, 4) if self.usable else None,
            "low_quality_count": self.low_quality,
            "omitted_problems": self.omitted_problems,
            "problems": [
                {**asdict(p.location), "where": p.where(), "severity": p.severity, "code": p.code, "message": p.message}
                for p in self.problems
            ],
            "low_quality": [
                {**asdict(q.location), "score": round(q.score, 4), "reasons": list(q.reasons)}
                for q in self.quality
                if q.score < 1.0
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False)

    def to_text(self, max_problems: int = 50) -> str:
        """A human-readable summary followed by the problems, errors first."""
        status = "OK" if self.ok else f"{len(self.errors)} error(s)"
        lines = [
            f"{self.file}: {status}, {len(self.warnings)} warning(s)",
            f"  format {self.format or '?'}, shape {self.shape or '?'}, "
            + ", ".join(f"{role}={name!r}" for role, name in self.columns.items()),
            f"  {self.records} record(s), {self.usable} usable example(s), {self.duplicates} duplicate(s)",
        ]
        if self.empty_values:
            lines.append("  missing or empty: " + ", ".join(f"{c!r} {n}" for c, n in self.empty_values.items()))
        if self.too_long:
            how = "estimated " if self.tokens_estimated else ""
            lines.append(
                f"  {self.too_long} example(s) longer than the sequence length, {how}{self.tokens_cut} token(s) cut"
            )
        if self.label_counts:
            lines.append("  labels: " + ", ".join(f"{k!r} {n}" for k, n in self.label_counts.items()))
        if self.usable:
            mean = self.quality_total / self.usable
            lines.append(f"  quality: mean {mean:.2f}, {self.low_quality} example(s) below 0.5")
        ordered = self.errors + self.warnings
        for problem in ordered[:max_problems]:
            lines.append(f"  {problem.severity.upper():7} {problem.text()}")
        if len(ordered) > max_problems:
            lines.append(f"  ... and {len(ordered) - max_problems} more (use --json for all)")
        if self.omitted_problems:
            lines.append(f"  ({self.omitted_problems} more finding(s) of the same kinds were counted, not listed)")
        return "\n".join(lines)
