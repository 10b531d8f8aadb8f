"""Which reader opens which format, and `open_records`, the one entry point that dispatches to them.

This is the only module that imports the readers, and only dispatch code (readers.py, the
dashboard's column preview, evaluation) imports it: readers depend on record_source.py and
formats.py alone, so no import cycle can run through here. Readers are imported when a source is
opened, not when gemma_jax.data is, so importing the package pulls in no ijson, pyarrow, datasets
or cloud client. A new format is one entry in FILE_READERS (and one in formats.FORMATS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.formats import check_file, refuse_special_file, resolve_format, source_kind
from gemma_jax.data.record_source import Record, RecordSource

Reader = Callable[[str, Path, str, DataConfig], RecordSource]  # (format, path, display, cfg) -> source


def _json(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    from gemma_jax.data.json_readers import open_json

    return open_json(fmt, path, display, cfg)


def _csv(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    from gemma_jax.data.csv_readers import open_csv

    return open_csv(fmt, path, display, cfg)


def _text(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    from gemma_jax.data.text_readers import open_text

    return open_text(fmt, path, display, cfg)


def _table(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    from gemma_jax.data.table_readers import open_table

    return open_table(fmt, path, display, cfg)


FILE_READERS: dict[str, Reader] = {
    "jsonl": _json,
    "json": _json,
    "csv": _csv,
    "tsv": _csv,
    "text": _text,
    "xlsx": _table,
    "xls": _table,
    "parquet": _table,
}


def open_records(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    """Open any supported source as a RecordSource (raises DataError when it cannot be opened at all)."""
    src = _open_any(path, display, cfg)
    src.records = _within_limits(src, src.records)
    return src


def _open_any(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    kind, name = source_kind(display, cfg)
    if kind == "hf":  # a local file read by `datasets`: a pipe or device is refused as open_file refuses it
        refuse_special_file(Path(name).expanduser(), display)
    if kind in ("hf", "tfds"):
        from gemma_jax.data import hub_readers

        return hub_readers.open_hub(kind, name, display, cfg)
    if kind == "gcs":
        from gemma_jax.data import gcs_data

        return gcs_data.open_gcs(display, cfg, open_file)
    return open_file(path, display, cfg)


def open_file(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    """One file: a local Path, or a gs:// object that answers like one (gcs_data.GcsFile)."""
    check_file(path, display)
    fmt = resolve_format(display, cfg.format)
    return FILE_READERS[fmt](fmt, path, display, cfg)


def _within_limits(src: RecordSource, records: Iterator[Record]) -> Iterator[Record]:
    """Every reader's records within the column and value caps; a record over one is a problem and skipped.

    Readers bound what they hold before a record exists (line, record and expansion caps);
    this is the same last check for all of them, so every format answers the same way.
    """
    cap = limits.LIMITS
    for number, record in records:
        if len(record) > cap.max_columns:
            what = f"this record has {len(record):,} columns ({limits.names_text(list(record), 5)})"
            src.problem(number, limits.over_limit("max_columns", what, limits.FEWER_COLUMNS_FIX), code="limit")
            continue
        long = next((k for k, v in record.items() if isinstance(v, (str, bytes)) and len(v) > cap.max_cell_chars), None)
        if long is not None:
            what = f"this value is {len(record[long]):,} characters long"
            src.problem(
                number, limits.over_limit("max_cell_chars", what, limits.LONG_VALUE_FIX), column=long, code="limit"
            )
            continue
        yield number, record
