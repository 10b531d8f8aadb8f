"""Which format and kind of source a path is, and the checks made before any reader opens it.

Format detection only: this module imports no reader, so readers can use its tables
(BY_EXTENSION, JSONL_HINT, ...) freely. Which reader opens which format is reader_registry.py;
the records stream they yield is record_source.py.
"""

from __future__ import annotations

import stat
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.errors import DataError

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
    """Explain a missing path, a folder, a pipe or device, or an empty file before any reader opens it."""
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
    refuse_special_file(path, display)
    if path.stat().st_size == 0 or _blank(path):
        raise DataError(
            f"{display} is empty: it has no examples. Add rows ({JSONL_HINT}; or a CSV header "
            "line followed by one row per example).",
            path=display,
        )


def refuse_special_file(path: Path, display: str) -> None:
    """A DataError for a path that exists but is neither a regular file nor a folder (a named pipe, a
    device, a socket), from its stat alone: opening a FIFO waits for a writer, /dev/zero never ends,
    and every one of them reports size 0, which read as "empty". Anything else passes: a missing
    path, a folder and a gs:// object (whose is_file() is True) are judged by their callers."""
    try:
        mode = path.stat().st_mode if not path.is_file() else None
    except (OSError, AttributeError):  # gone, unreadable or no st_mode: the readers say what they find
        return
    if mode is None or stat.S_ISDIR(mode):
        return
    raise DataError(
        f"{display} is {_special_kind(mode)}, not a regular file: give a data file "
        "(.jsonl, .json, .csv, .tsv, .txt, .xlsx, .parquet) or a saved dataset folder.",
        path=display,
    )


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _blank(path: Path) -> bool:
    """Whitespace only (checked on small files; big ones are judged while reading)."""
    if path.stat().st_size > 65536:
        return False
    raw = path.read_bytes()
    return not raw.strip(b" \t\r\n\xef\xbb\xbf")
