"""Crash-safe file primitives for the run directory: atomic JSON replace and JSON-lines append/tail.

The engine writes while the UI and CLI read from other processes, so a reader must
never see half a status.json, and a tail of metrics.jsonl must never return half a line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gemma_jax.atomic_files import atomic_write_text, atomic_writer

__all__ = ["atomic_write_text", "atomic_writer"]  # run-directory writers take them from here too


def atomic_write_json(path: Path, data: Mapping[str, Any], durable: bool = True) -> None:
    atomic_write_text(path, json.dumps(to_json(data), indent=2, allow_nan=False) + "\n", durable)


def to_json(value: Any) -> Any:
    """Strict-JSON-safe copy: NaN/inf become null, numpy/jax scalars become Python numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "item") and getattr(value, "size", 1) == 1:  # numpy / jax scalars and 0-d arrays
        return to_json(value.item())
    if hasattr(value, "tolist"):
        return to_json(value.tolist())
    return str(value)


def append_text(path: Path, text: str) -> None:
    """Append whole lines with one O_APPEND write; starts a fresh line if a crash left a partial one."""
    data = text.encode("utf-8")
    if not data.endswith(b"\n"):
        data += b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def append_json_line(path: Path, record: Mapping[str, Any]) -> None:
    append_text(path, json.dumps(to_json(record), allow_nan=False, separators=(",", ":")))


def read_complete_lines(path: Path, offset: int = 0) -> tuple[list[bytes], int]:
    """Complete lines from byte `offset`, and the offset just past the last one.

    A trailing line without its newline is still being written and is left for the next
    call. A file that shrank below `offset` (replaced or truncated) is read from the start.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offset > size:
                offset = 0
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return [], 0
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset
    return chunk[:end].split(b"\n"), offset + end + 1


def read_json_lines(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Parsed JSON objects from `offset`; blank and corrupt lines are skipped rather than fatal."""
    lines, new_offset = read_complete_lines(path, offset)
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, new_offset
