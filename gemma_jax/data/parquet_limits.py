"""Caps for Parquet, checked from the metadata before data is decoded and per batch before rows
become Python values.

Parquet's dictionary and run-length encodings let a small file describe a huge table (one 16 MB
string referenced by a million rows), so the file size says little. The footer's column count,
schema depth and row-group sizes are checked first; text columns are read dictionary-encoded,
and each batch's rows are measured before conversion.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gemma_jax.data import limits
from gemma_jax.data.containers import check_ratio
from gemma_jax.data.errors import DataError
from gemma_jax.data.json_values import DEPTH_FIX
from gemma_jax.data.record_source import RecordSource

_CONVERT_BYTES = 64 * limits.MiB  # a batch expanding to more than this becomes Python values row by row
_VALUE_BYTES = 8  # the least a decoded value takes in Arrow (an offset or a number)


def check_schema(display: str, metadata: pq.FileMetaData, schema: pa.Schema) -> None:
    """Refuse more than max_columns (leaf) columns, or columns nested deeper than max_json_depth."""
    cap = limits.LIMITS
    if metadata.num_columns > cap.max_columns:
        what = f"{display} has {metadata.num_columns:,} columns ({limits.names_text(schema.names, 5)})"
        raise DataError(limits.over_limit("max_columns", what, limits.FEWER_COLUMNS_FIX), path=display)
    for field in schema:
        if _too_deep(field.type, 2, cap.max_json_depth):
            what = f"{display}: column {limits.shorten(field.name, 60)!r} is nested too deeply"
            raise DataError(limits.over_limit("max_json_depth", what, DEPTH_FIX), path=display)


def _too_deep(kind: pa.DataType, depth: int, cap: int) -> bool:
    """Whether a (nested) type has containers deeper than `cap`; a row is depth 1, as in JSON."""
    if kind.num_fields == 0:
        return False
    return depth > cap or any(_too_deep(kind.field(i).type, depth + 1, cap) for i in range(kind.num_fields))


def text_columns(schema: pa.Schema) -> list[str]:
    """Top-level string/binary columns: read as dictionaries, so repeated values are not expanded early."""
    return [field.name for field in schema if _is_text(field.type)]


def check_row_group(display: str, group: pq.RowGroupMetaData, number: int) -> None:
    """Refuse a row group whose decoded data may pass max_uncompressed_bytes (values x 8 bytes at least)."""
    decoded = 0
    for i in range(group.num_columns):
        column = group.column(i)
        decoded += max(column.total_uncompressed_size, column.num_values * _VALUE_BYTES)
    if decoded > limits.LIMITS.max_uncompressed_bytes:
        what = f"{display}: row group {number} expands to {limits.size_text(decoded)} or more"
        fix = "Write the file with smaller row groups (e.g. pyarrow's row_group_size=100_000), or split it."
        raise DataError(limits.over_limit("max_uncompressed_bytes", what, fix), path=display)


def check_batch(
    display: str, src: RecordSource, batch: pa.RecordBatch, before: int, expanded: int, stored: int
) -> tuple[int, Iterable[dict | None]]:
    """(bytes expanded so far, the batch's rows); a row over max_cell_chars or max_record_bytes is a
    problem and None. Raises DataError when the data so far expands past max_compression_ratio."""
    cap = limits.LIMITS
    totals, largest, widest = _row_sizes(batch)
    expanded += int(totals.sum())
    check_ratio(display, "its data", expanded, stored)
    bad = (largest > cap.max_cell_chars) | (totals > cap.max_record_bytes)
    for i in np.flatnonzero(bad):
        number = before + int(i) + 1
        if largest[i] > cap.max_cell_chars:
            what = f"this value is {limits.size_text(int(largest[i]))}"
            message = limits.over_limit("max_cell_chars", what, limits.LONG_VALUE_FIX)
            src.problem(number, message, column=batch.schema.names[widest[i]], code="limit")
        else:
            what = f"this row is {limits.size_text(int(totals[i]))}"
            fix = "One example is far smaller: keep only the columns training needs."
            src.problem(number, limits.over_limit("max_record_bytes", what, fix), code="limit")
    if not bad.any() and totals.sum() <= _CONVERT_BYTES:
        return expanded, batch.to_pylist()
    return expanded, (None if bad[i] else batch.slice(i, 1).to_pylist()[0] for i in range(batch.num_rows))


def _row_sizes(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: bytes its values expand to, its largest text value, and that value's column index.
    Text is measured exactly (dictionary-aware); other columns count their Arrow bytes spread evenly."""
    rows = batch.num_rows
    totals = np.zeros(rows, dtype=np.int64)
    largest = np.zeros(rows, dtype=np.int64)
    widest = np.zeros(rows, dtype=np.int64)
    for index, column in enumerate(batch.columns):
        kind = column.type
        if pa.types.is_dictionary(kind) and _is_text(kind.value_type):
            lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
        elif _is_text(kind):
            lengths = pc.binary_length(column)
        else:
            totals += column.nbytes // max(rows, 1)
            continue
        values = lengths.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        totals += values
        wider = values > largest
        largest = np.where(wider, values, largest)
        widest = np.where(wider, index, widest)
    return totals, largest, widest


def _is_text(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )
