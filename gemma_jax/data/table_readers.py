"""Readers for binary tables: Excel .xlsx (openpyxl), legacy .xls (xlrd) and Parquet (pyarrow).

Rows are numbered as the user sees them: Excel rows as in the spreadsheet (the
header is row 1), Parquet rows from 1. Files are opened read-only and streamed
(openpyxl read-only mode, Parquet record batches).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.errors import DataError
from gemma_jax.data.formats import Record, RecordSource

PARQUET_BATCH_ROWS = 1024


def open_table(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    opener = {"xlsx": _open_xlsx, "xls": _open_xls, "parquet": _open_parquet}[fmt]
    try:
        return opener(path, display, cfg)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001  (each library has its own error types for a corrupt file)
        what = {"xlsx": "an Excel .xlsx", "xls": "an Excel .xls", "parquet": "a Parquet"}[fmt]
        fix = (
            "Open it in Excel and save it again, or export the sheet as CSV."
            if fmt != "parquet"
            else "Write it again with pandas/pyarrow, or export it as JSONL."
        )
        raise DataError(
            f"{display} cannot be read as {what} file ({type(err).__name__}: {err}). {fix}", path=display
        ) from None


def _cell(value: object) -> object:
    """Spreadsheet values as the JSON-like values records hold (whole floats become ints)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    return value


def _rows_to_records(src: RecordSource, rows: Iterator[tuple], header_row: bool) -> Iterator[Record]:
    """Shared by both Excel readers: a header row, then one record per non-empty row."""
    first = next(rows, None)
    if first is None:
        return
    width = len(first)
    while width and (first[width - 1] is None or str(first[width - 1]).strip() == ""):
        width -= 1
    if header_row:
        header = [str(v).strip() if v is not None else f"column{i}" for i, v in enumerate(first[:width], 1)]
        for col, name in enumerate(header, 1):
            if name in header[: col - 1]:
                src.problem(
                    1,
                    f"the header names column {name!r} twice; give every column a different name.",
                    column=col,
                    code="columns",
                )
        body: Iterator[tuple[int, tuple]] = ((n, r) for n, r in enumerate(rows, 2))
    else:
        header = [f"column{i}" for i in range(1, width + 1)]
        body = ((n, r) for n, r in enumerate(_prepend(first, rows), 1))
    src.columns = header
    yield 0, {}
    for number, row in body:
        values = [_cell(v) for v in row]
        extra = [v for v in values[width:] if v not in (None, "")]
        if extra:
            src.problem(
                number,
                f"this row has values beyond the {width} named columns; give those columns a header.",
                column=width + 1,
                code="columns",
            )
        cells = values[:width] + [None] * (width - len(values))
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
            continue
        yield number, dict(zip(header, cells))


def _prepend(first: tuple, rows: Iterator[tuple]) -> Iterator[tuple]:
    yield first
    yield from rows


def _header_first(src: RecordSource) -> RecordSource:
    """Run the records generator to its header marker, so `columns` is known before conversion."""
    records = src.records
    marker = next(records, None)
    if marker is not None and marker[0] != 0:
        src.records = _prepend(marker, records)  # type: ignore[arg-type]
    return src


def _sheet_named(names: list[str], wanted: str | None, display: str) -> int:
    if wanted is None:
        return 0
    if wanted in names:
        return names.index(wanted)
    raise DataError(
        f"{display} has no sheet named {wanted!r}. Its sheets are: {', '.join(repr(n) for n in names)}. "
        "Set data.sheet to one of them.",
        path=display,
    )


def _open_xlsx(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = book.worksheets[_sheet_named(book.sheetnames, cfg.sheet, display)]
    src = RecordSource(display, path.name, "xlsx", "row", None, iter(()))

    def records() -> Iterator[Record]:
        try:
            yield from _rows_to_records(src, sheet.iter_rows(values_only=True), cfg.header)
        finally:
            book.close()

    src.records = records()
    return _header_first(src)


def _open_xls(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    import xlrd

    book = xlrd.open_workbook(str(path), on_demand=True)
    sheet = book.sheet_by_index(_sheet_named(book.sheet_names(), cfg.sheet, display))
    src = RecordSource(display, path.name, "xls", "row", None, iter(()))
    empty = (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK)

    def rows() -> Iterator[tuple]:
        for i in range(sheet.nrows):
            yield tuple(None if c.ctype in empty else c.value for c in sheet.row(i))

    def records() -> Iterator[Record]:
        try:
            yield from _rows_to_records(src, rows(), cfg.header)
        finally:
            book.release_resources()

    src.records = records()
    return _header_first(src)


def _open_parquet(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    src = RecordSource(display, path.name, "parquet", "row", list(table.schema_arrow.names), iter(()))

    def records() -> Iterator[Record]:
        number = 0
        try:
            for batch in table.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                for row in batch.to_pylist():
                    number += 1
                    yield number, row
        except Exception as err:  # noqa: BLE001  (a corrupt page: report where, keep what was read)
            src.problem(number + 1, f"the Parquet data cannot be read from here on ({type(err).__name__}: {err}).")
        finally:
            table.close()

    src.records = records()
    return src
