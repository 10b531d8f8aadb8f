"""CSV and TSV with a delimiter, quote character and optional header, one record at a time.

Lines come from line_readers (each at most max_record_bytes). A record may span lines (quoted
line breaks), so the lines of one record are counted too: a missing closing quote ends reading
at max_record_bytes, a value at max_cell_chars, a header at max_columns.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.line_readers import open_lines
from gemma_jax.data.record_source import Record, RecordSource


def open_csv(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    """CSV or TSV ("csv" or "tsv"; a .tsv file is tab separated either way) with its header read already."""
    src, lines = open_lines(fmt, path, display, cfg)
    delimiter = cfg.delimiter or ("\t" if fmt == "tsv" or path.suffix.lower() == ".tsv" else ",")
    src.records = csv_records(src, lines, delimiter, cfg.quote_char or '"', cfg.header)
    src.columns = csv_header_now(src)
    return src


def csv_records(
    src: RecordSource, lines: Iterator[tuple[int, str]], delimiter: str, quote: str, header_row: bool
) -> Iterator[Record]:
    """The records; the first thing yielded is (0, {}), a marker that `src.columns` holds the header."""
    csv.field_size_limit(max(csv.field_size_limit(), limits.LIMITS.max_cell_chars))
    feed = _Feed(lines)
    reader = csv.reader(feed, delimiter=delimiter, quotechar=quote)
    sep = "tab" if delimiter == "\t" else repr(delimiter)
    try:
        first = next(reader, None)
        if first is None:
            return
        if len(first) > limits.LIMITS.max_columns:
            what = f"the first row has {len(first):,} columns ({limits.names_text(first, 5)})"
            src.problem(1, limits.over_limit("max_columns", what, limits.FEWER_COLUMNS_FIX), code="limit")
            return
        header = [name.strip() for name in first] if header_row else [f"column{i}" for i in range(1, len(first) + 1)]
        if header_row:
            _check_header(src, header, delimiter)
        src.columns = header
        yield 0, {}  # marker: the header is known (dropped by csv_header_now)
        if not header_row:
            record = _row_record(src, header, 1, first, sep)
            if record is not None:
                yield record
        start = reader.line_num + 1
        feed.size = 0
        for row in reader:
            feed.size = 0
            lineno, start = start, reader.line_num + 1
            record = _row_record(src, header, lineno, row, sep)
            if record is not None:
                yield record
    except _RecordTooLong as err:
        what = f"the record starting on line {err.start} runs over {limits.size_text(err.size)}"
        fix = "A quote is probably not closed there, so the lines after it were read as one value. Fix the quoting."
        src.problem(err.start, limits.over_limit("max_record_bytes", what, fix), code="limit")
    except csv.Error as err:
        where = reader.line_num or 1
        if "field larger than field limit" in str(err):
            what = "a value is longer than that, far too long for one example"
            message = limits.over_limit("max_cell_chars", what, limits.LONG_VALUE_FIX)
            src.problem(where, message, code="limit")
        else:
            src.problem(where, f"the CSV cannot be read ({err}). Check the quoting on that line.")


class _RecordTooLong(Exception):
    def __init__(self, start: int, size: int):
        super().__init__(f"record from line {start} over {size} characters")
        self.start, self.size = start, size


class _Feed:
    """The lines csv.reader pulls, counting the characters of the record being read (`size`, reset by
    the caller after each record): past max_record_bytes it raises _RecordTooLong."""

    def __init__(self, lines: Iterator[tuple[int, str]]):
        self.lines, self.size, self.start = lines, 0, 1

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        lineno, text = next(self.lines)
        if self.size == 0:
            self.start = lineno
        self.size += len(text)
        if self.size > limits.LIMITS.max_record_bytes:
            raise _RecordTooLong(self.start, self.size)
        return text


def csv_header_now(src: RecordSource) -> list[str] | None:
    """Read the header eagerly so shape detection can use it; the records generator continues after it."""
    records = src.records
    try:
        first = next(records)
    except StopIteration:
        return src.columns
    header = src.columns

    def chained() -> Iterator[Record]:
        if first[0] > 0:
            yield first
        yield from records

    src.records = chained()
    return header


def _row_record(src: RecordSource, header: list[str], lineno: int, row: list[str], sep: str) -> Record | None:
    if not any(cell.strip() for cell in row):
        return None
    if len(row) > len(header):
        src.problem(
            lineno,
            f"this row has {len(row)} values but the header has {len(header)} columns; put values "
            f'that contain a {sep} or a line break in double quotes ("...").',
            column=len(header) + 1,
            code="columns",
        )
        return None
    if len(row) < len(header):
        src.problem(
            lineno,
            f"this row has {len(row)} values but the header has {len(header)} columns; the missing "
            f"ones ({limits.names_text(header[len(row) :])}) are read as empty.",
            severity="warning",
            code="columns",
        )
    return lineno, dict(zip(header, row + [""] * (len(header) - len(row))))


def _check_header(src: RecordSource, header: list[str], delimiter: str) -> None:
    seen: set[str] = set()
    for col, name in enumerate(header, 1):
        if name in seen:
            src.problem(
                1,
                f"the header names column {limits.shorten(name, 60)!r} twice; give every column a different name.",
                column=col,
                code="columns",
            )
        seen.add(name)
    if len(header) == 1:
        for other in (",", ";", "\t", "|"):
            if other != delimiter and other in header[0]:
                shown = "\\t" if other == "\t" else other
                src.problem(
                    1,
                    f"the header is one column {limits.shorten(header[0], 60)!r} that contains {other!r}: the file "
                    f"looks separated by {other!r}, not {delimiter!r}. Set data.delimiter: {shown!r}.",
                    code="delimiter",
                )
                break
