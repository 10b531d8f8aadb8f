""" "Skip invalid rows": train on a copy of the file that holds only its valid rows.

The engine refuses a file with errors (it must never train on half a file by surprise), so the
wizard, when asked to, writes the rows that became examples to a JSON Lines copy in the workspace
(uploads/valid-rows/) and trains on that. The run's config names the copy, so the same job from the
command line reads the same rows. A copy is named after its content: it never changes after a run
used it. No Panel import.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.report import DataReport
from ui.workspace import UploadError, safe_file_name

COPY_FOLDER = "valid-rows"  # under the workspace's uploads folder (user uploads never go into folders)
LISTED_ROWS = 200  # skipped rows listed on the page (all are counted)


@dataclass(frozen=True)
class Skipped:
    """Training uses `copy`, the valid rows of `original`; `rows` are the skipped ones (line -> why)."""

    original: str
    copy: str
    kept: int
    rows: dict[int, str] = field(default_factory=dict)
    count: int = 0  # rows skipped (rows lists at most LISTED_ROWS of them)
    original_format: str = "auto"
    original_encoding: str = "utf-8"
    original_check: object = None  # the DataCheck of the original: its table shows the skipped rows

    def restore(self, data: DataConfig) -> DataConfig:
        """`data` reading the original file again (as it was read before the copy)."""
        return dataclasses.replace(
            data, train_path=self.original, format=self.original_format, encoding=self.original_encoding
        )


def skippable(report: DataReport) -> bool:
    """Errors that each belong to a row (so the other rows can train), and at least one usable row."""
    errors = report.errors
    if not errors or report.usable < 1:
        return False
    for problem in errors:
        loc = problem.location
        if not problem.lines and loc.line is None and loc.row is None:
            return False  # about the whole file (format, header, shape): no row can be trusted
        if "header" in (loc.detail or ""):
            return False
    return True


def skipped_rows(report: DataReport) -> tuple[dict[int, str], int]:
    """The rows with errors (line or row number -> the messages), at most LISTED_ROWS, and how many."""
    rows: dict[int, list[str]] = {}
    for problem in report.errors:
        loc = problem.location
        for number in problem.lines or ((loc.line if loc.line is not None else loc.row),):
            if number is not None:
                rows.setdefault(int(number), []).append(problem.message)
    listed = dict(sorted(rows.items())[:LISTED_ROWS])
    return {number: "; ".join(messages) for number, messages in listed.items()}, len(rows)


def copy_data(data: DataConfig, copy: Path) -> DataConfig:
    """`data` reading the copy: JSON Lines in UTF-8, the same columns."""
    return dataclasses.replace(data, train_path=str(copy), format="auto", encoding="utf-8")


def _json_value(value: object) -> object:
    """A record's value as JSON keeps it (NaN is a missing value; arrays are lists; other objects text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "tolist"):  # numpy scalars and arrays (Parquet lists)
        return _json_value(value.tolist())
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def write_valid_copy(data: DataConfig, folder: Path) -> tuple[Path, int]:
    """Write the rows of `data.train_path` that become examples to folder/<name>-valid-<hash>.jsonl.

    Reads the file: call it where the data check runs (the isolated child). Returns (copy, rows kept).
    """
    from gemma_jax.data.readers import stream_items

    folder.mkdir(parents=True, exist_ok=True)
    try:
        stem = Path(safe_file_name(Path(data.train_path).name)).stem or "data"
    except UploadError:
        stem = "data"
    digest, kept = hashlib.sha256(), 0
    fd, part = tempfile.mkstemp(dir=folder, prefix=".copy-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            _, _, items = stream_items(data.train_path, data)
            for item in items:
                if item.item is None:
                    continue
                line = json.dumps(_json_value(item.record), ensure_ascii=False) + "\n"
                out.write(line)
                digest.update(line.encode("utf-8"))
                kept += 1
        copy = folder / f"{stem}-valid-{digest.hexdigest()[:10]}.jsonl"
        os.replace(part, copy)  # same content, same name: a copy a run has read never changes
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    return copy, kept
