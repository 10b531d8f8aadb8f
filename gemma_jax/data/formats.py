"""Which reader a data source needs, and the common stream of (line or row, record) it yields.

Readers never stop at the first bad line: they add a Problem (file, line or row,
column) and go on, so the user can fix the whole file in one go. Numbers are
1-based, as editors and spreadsheets show them. Nothing here writes to the source.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.errors import DataError
from gemma_jax.data.report import Location, Problem

Record = tuple[int, dict]  # (1-based line or row where the record starts, its fields)

FORMATS = ("auto", "jsonl", "csv", "tsv", "json", "text", "xlsx", "xls", "parquet")
BY_EXTENSION = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xls",
    ".parquet": "parquet",
    ".pq": "parquet",
}
HUB_PREFIXES = {"hf:": "hf", "hf://": "hf", "tfds:": "tfds", "tfds://": "tfds"}
SAVED_DATASET_FILES = ("dataset_info.json", "state.json", "dataset_dict.json")
JSONL_HINT = 'each line must be one JSON object, e.g. {"prompt": "...", "response": "..."}'


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


def source_kind(path: str, cfg: DataConfig) -> tuple[str, str]:
    """("file" | "gcs" | "hf" | "tfds", the name or path without its hf:/tfds: prefix)."""
    if path.startswith("gs://"):
        return "gcs", path
    for prefix, kind in sorted(HUB_PREFIXES.items(), key=lambda kv: -len(kv[0])):
        if path.startswith(prefix):
            return kind, path[len(prefix) :]
    if cfg.source in ("hf", "tfds"):
        return cfg.source, path
    local = Path(path).expanduser()
    if local.is_dir() and any((local / name).exists() for name in SAVED_DATASET_FILES):
        return "hf", path
    return "file", path


def resolve_format(path: str, fmt: str = "auto") -> str:
    """The file format: data.format, else the extension; .txt needs data.format: text (or csv)."""
    fmt = (fmt or "auto").lower()
    if fmt not in FORMATS:
        raise DataError(f"Unknown data.format {fmt!r} for {path}. Use one of: {', '.join(FORMATS)}.", path=path)
    if fmt != "auto":
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in BY_EXTENSION:
        raise DataError(
            f"Cannot tell the format of {path} from its extension {suffix or '(none)'!r}. "
            "Name it .jsonl, .json, .csv, .tsv, .xlsx, .xls or .parquet, or set data.format "
            "(text reads plain text: one example per line, blank-line separated blocks, or a regex).",
            path=path,
        )
    return BY_EXTENSION[suffix]


def check_file(path: Path, display: str) -> None:
    """Explain a missing path, a folder or an empty file before any reader opens it."""
    if not path.exists():
        raise DataError(
            f"Data file not found: {display}. Check the path (relative paths start from "
            f"{Path.cwd()}), or use 'example' for the dataset packaged with gemma_jax.",
            path=display,
        )
    if path.is_dir():
        raise DataError(
            f"{display} is a folder, not a data file. Point the path at a data file "
            "(or at a Hugging Face save_to_disk folder, which holds dataset_info.json).",
            path=display,
        )
    if path.stat().st_size == 0 or _blank(path):
        raise DataError(
            f"{display} is empty: it has no examples. Add rows ({JSONL_HINT}; or a CSV header "
            "line followed by one row per example).",
            path=display,
        )


def _blank(path: Path) -> bool:
    """Whitespace only (checked on small files; big ones are judged while reading)."""
    if path.stat().st_size > 65536:
        return False
    raw = path.read_bytes()
    return not raw.strip(b" \t\r\n\xef\xbb\xbf")


def open_records(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    """Open any supported source as a RecordSource (raises DataError when it cannot be opened at all)."""
    src = _open_any(path, display, cfg)
    src.records = _within_limits(src, src.records)
    return src


def _open_any(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    kind, name = source_kind(display, cfg)
    if kind in ("hf", "tfds"):
        from gemma_jax.data import hub_readers

        return hub_readers.open_hub(kind, name, display, cfg)
    if kind == "gcs":
        from gemma_jax.data import gcs_data

        return gcs_data.open_gcs(display, cfg, _open_file)
    return _open_file(path, display, cfg)


def _open_file(path: Path, display: str, cfg: DataConfig) -> RecordSource:
    """One file: a local Path, or a gs:// object that answers like one (gcs_data.GcsFile)."""
    check_file(path, display)
    fmt = resolve_format(display, cfg.format)
    if fmt in ("xlsx", "xls", "parquet"):
        from gemma_jax.data import table_readers

        return table_readers.open_table(fmt, path, display, cfg)
    from gemma_jax.data import line_readers

    return line_readers.open_text_format(fmt, path, display, cfg)


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
