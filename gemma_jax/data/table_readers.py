"""Readers for binary tables: Excel .xlsx (openpyxl), legacy .xls (xlrd) and Parquet (pyarrow).

Rows are numbered as the user sees them: Excel rows as in the spreadsheet (the
header is row 1), Parquet rows from 1. Files are opened read-only and streamed
(openpyxl read-only mode, Parquet record batches). What a file says about its size is
checked before a library expands it (limits.py): an .xlsx zip's declared sizes, an .xls's
file size, a Parquet file's schema and row groups (parquet_limits.py).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.containers import check_zip
from gemma_jax.data.errors import DataError
from gemma_jax.data.record_source import Record, RecordSource

PARQUET_BATCH_ROWS = 1024
_EXCEL_FIX = "Open it in Excel and save it again, or export the sheet as CSV."


class _Quiet:
    """A log file that drops what xlrd writes (it warns on stdout about every broken .xls)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


_QUIET = _Quiet()


def open_table(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    opener = {"xlsx": _open_xlsx, "xls": _open_xls, "parquet": _open_parquet}[fmt]
    try:
        return opener(path, display, cfg)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001  (each library has its own error types for a corrupt file)
        what = {"xlsx": "an Excel .xlsx", "xls": "an Excel .xls", "parquet": "a Parquet"}[fmt]
        fix = _EXCEL_FIX if fmt != "parquet" else "Write it again with pandas/pyarrow, or export it as JSONL."
        reason = limits.shorten(f"{type(err).__name__}: {err}", 300)
        raise DataError(f"{display} cannot be read as {what} file ({reason}). {fix}", path=display) from None


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
    if width > limits.LIMITS.max_columns:
        what = f"the first row has {width:,} columns"
        src.problem(1, limits.over_limit("max_columns", what, limits.FEWER_COLUMNS_FIX), code="limit")
        return
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
        values = [_cell(v) for v in row[:width]]
        if any(v not in (None, "") for v in row[width:]):
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
        f"{display} has no sheet named {wanted!r}. Its sheets are: {limits.names_text(names)}. "
        "Set data.sheet to one of them.",
        path=display,
    )


def _open_xlsx(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    import openpyxl

    check_zip(path, display)
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = book.worksheets[_sheet_named(book.sheetnames, cfg.sheet, display)]
    sheet.reset_dimensions()  # rows as stored, not padded to a declared size (which may say 16,384 x 1M)
    src = RecordSource(display, path.name, "xlsx", "row", None, iter(()))

    def records() -> Iterator[Record]:
        last = 1 if cfg.header else 0  # the last row read (the header's marker is row 0)
        try:
            for number, record in _rows_to_records(src, sheet.iter_rows(values_only=True), cfg.header):
                last = max(last, number)
                yield number, record
        except Exception as err:  # noqa: BLE001  (openpyxl parses rows lazily: a broken cell ends the sheet)
            reason = limits.shorten(f"{type(err).__name__}: {err}", 300)
            src.problem(last + 1, f"the sheet cannot be read from here on ({reason}). {_EXCEL_FIX}")
        finally:
            book.close()

    src.records = records()
    return _header_first(src)


def _open_xls(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    import xlrd

    size = path.stat().st_size
    if size > limits.LIMITS.max_xls_bytes:
        what = f"{display} is {limits.size_text(size)}, and an .xls is read whole into memory"
        fix = "Save it as .xlsx or CSV, which are read row by row."
        raise DataError(limits.over_limit("max_xls_bytes", what, fix), path=display)
    book = xlrd.open_workbook(str(path), on_demand=True, ragged_rows=True, logfile=_QUIET)
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

    from gemma_jax.data.parquet_limits import check_batch, check_row_group, check_schema, text_columns

    with pq.ParquetFile(path) as footer:  # reads the footer only
        schema = footer.schema_arrow
        check_schema(display, footer.metadata, schema)
    # Text columns stay dictionary-encoded, so a value repeated in many rows is held once until a
    # row is converted; check_batch measures each row before it becomes Python values.
    table = pq.ParquetFile(path, read_dictionary=text_columns(schema))
    src = RecordSource(display, path.name, "parquet", "row", list(schema.names), iter(()))
    stored = path.stat().st_size

    def records() -> Iterator[Record]:
        number = expanded = 0
        try:
            for group in range(table.num_row_groups):
                check_row_group(display, table.metadata.row_group(group), group + 1)
                for batch in table.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[group]):
                    expanded, rows = check_batch(display, src, batch, number, expanded, stored)
                    for row in rows:
                        number += 1
                        if row is not None:
                            yield number, row
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001  (a corrupt page: report where, keep what was read)
            reason = limits.shorten(f"{type(err).__name__}: {err}", 300)
            src.problem(number + 1, f"the Parquet data cannot be read from here on ({reason}).")
        finally:
            table.close()

    src.records = records()
    return src
