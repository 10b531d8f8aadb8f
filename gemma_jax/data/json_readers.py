"""JSON Lines and JSON: JSONL line by line; a JSON array or object (of columns, or {"key": [rows]})
larger than STREAM_JSON_BYTES streams through ijson (json_stream.py), one record at a time, in any
data.encoding (a file not in UTF-8 is decoded and encoded as UTF-8 a piece at a time).

Smaller documents are parsed whole with Python's json, which names the exact column of a syntax
error and accepts Python's NaN/Infinity. Lines are at most max_record_bytes (line_readers), and
values nested deeper than max_json_depth are refused (json_values).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.formats import JSONL_HINT
from gemma_jax.data.json_stream import streamed_json
from gemma_jax.data.json_values import (
    LongNumber,
    TooDeep,
    depth_message,
    equal_columns,
    json_kind,
    loads,
    raw_decode,
    too_many_columns,
)
from gemma_jax.data.line_readers import open_lines
from gemma_jax.data.record_source import Record, RecordSource
from gemma_jax.data.text_codecs import text_codec, utf8_reader

STREAM_JSON_BYTES = 8 * 1024 * 1024  # UTF-8 JSON arrays/objects above this size stream through ijson
_CHUNK = 1 << 16
_FIRST_LINE_LIMIT = 1 << 20  # how much of a first line is read to tell JSON Lines from one JSON value


def open_json(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    """JSON Lines or a JSON document ("jsonl" or "json") as records, from line_readers' bounded lines."""
    src, lines = open_lines(fmt, path, display, cfg)
    src.records = json_records(fmt, path, src, lines, text_codec(path, display, cfg.encoding or "utf-8"))
    return src


def json_records(
    fmt: str, path: Path, src: RecordSource, lines: Iterator[tuple[int, str]], codec: str = "utf-8"
) -> Iterator[Record]:
    """`codec` decodes the file (text_codecs.text_codec): the JSON value's first character and the
    streamed parse read the file through it, as `lines` do."""
    first = _first_char(path, codec)
    if first == "[" or (fmt == "json" and first == "{"):
        if path.stat().st_size > STREAM_JSON_BYTES:
            if _json_lines_after_all(path, first, codec):
                return _jsonl(src, lines)
            return streamed_json(path, src, first, codec)
        text = "".join(line for _, line in lines)
        whole = _whole_json(fmt, text, src)
        if whole is not None:
            return iter(whole)
        lines = enumerate(text.splitlines(keepends=True), 1)
    return _jsonl(src, lines)


def _json_lines_after_all(path: Path, first: str, codec: str) -> bool:
    """A file starting with "[" or "{" whose first line is a whole JSON value (an object for "{") with
    more lines after it is JSON Lines, as `_whole_json` decides for files parsed whole."""
    try:
        return _first_line_then_more(path, first, codec)
    except UnicodeDecodeError:
        return False  # the streamed parse reports where the file stops decoding


def _first_line_then_more(path: Path, first: str, codec: str) -> bool:
    with utf8_reader(path, codec) as f:
        line = b""
        while not line.strip(b" \t\r\n\xef\xbb\xbf"):
            line = f.readline(_FIRST_LINE_LIMIT)
            if not line:
                return False
        if not line.endswith(b"\n") or line.strip() == b"[":
            return False  # a long first line or a bare "[": one JSON value
        try:
            value = loads(line.lstrip(codecs.BOM_UTF8).decode("utf-8"))
        except (ValueError, TooDeep):
            return False
        if first == "{" and not isinstance(value, dict):
            return False
        while rest := f.read(_CHUNK):
            if rest.strip():
                return True
    return False


def _jsonl(src: RecordSource, lines: Iterator[tuple[int, str]]) -> Iterator[Record]:
    for lineno, line in lines:
        if not line.strip():
            continue
        try:
            value = loads(line)
        except json.JSONDecodeError as err:
            src.problem(lineno, f"not valid JSON ({err.msg}); {JSONL_HINT}.", column=err.colno)
            continue
        except TooDeep:
            src.problem(lineno, depth_message(), code="limit")
            continue
        if not isinstance(value, dict):
            src.problem(lineno, f"expected a JSON object but found {json_kind(value)}; {JSONL_HINT}.", column=1)
            continue
        yield lineno, value


def _first_char(path: Path, codec: str) -> str:
    """The first character that is not a BOM or white space ("" when there is none, or it does not decode)."""
    try:
        with utf8_reader(path, codec) as f:
            head = f.read(65536)
    except UnicodeDecodeError:
        return ""  # read line by line, where the reader names the line that does not decode
    return head.lstrip(codecs.BOM_UTF8 + b" \t\r\n")[:1].decode("latin-1")


def _whole_json(fmt: str, text: str, src: RecordSource) -> list[Record] | None:
    """Records of a JSON array or object; None when the text is JSON Lines after all."""
    stripped = text.strip()
    if stripped.startswith("["):
        if stripped.split("\n", 1)[0].strip() != "[" and not _parses_as_list(stripped):
            return None
        return _parse_json_array(text, src)
    try:
        value = loads(stripped)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data" or _first_line_is_object(stripped):
            return None  # JSON Lines in a .json file
        src.problem(err.lineno, f"not valid JSON ({err.msg}). Fix the JSON there.", column=err.colno)
        return []
    except TooDeep:
        if _first_line_is_object(stripped):
            return None  # JSON Lines: each line is checked on its own
        src.problem(1, depth_message(), code="limit")
        return []
    if not isinstance(value, dict):
        src.problem(
            1, f"expected a JSON array of objects (or an object of columns) but found {json_kind(value)}.", column=1
        )
        return []
    return _object_records(value, src)


def _object_records(value: dict, src: RecordSource) -> list[Record]:
    """{"col": [..], "col2": [..]} (columns), {"data": [{..}, ..]} (one list of rows) or one object."""
    lists = {k: v for k, v in value.items() if isinstance(v, list)}
    if len(lists) == 1 and len(value) == 1:
        [rows] = lists.values()
        if all(isinstance(r, dict) for r in rows):
            src.unit = "row"
            return [(n, r) for n, r in enumerate(rows, 1)]
    if lists and len(lists) == len(value):
        if too_many_columns(lists, src) or not equal_columns({k: len(v) for k, v in lists.items()}, src):
            return []
        most = len(next(iter(lists.values())))
        return [(i + 1, {k: v[i] for k, v in lists.items()}) for i in range(most)]
    return [(1, value)]


def _parse_json_array(text: str, src: RecordSource) -> list[Record]:
    """Parse `[{...}, {...}]`, keeping the line each object starts on."""
    decoder = json.JSONDecoder()
    records: list[Record] = []
    idx = text.index("[") + 1
    line, counted = 1, 0
    try:
        while True:
            idx = _skip_space(text, idx)
            if text.startswith("]", idx) and not records:
                break
            line += text.count("\n", counted, idx)
            counted = idx
            value, end = raw_decode(decoder, text, idx)
            if not isinstance(value, dict):
                found = json_kind(value)
                src.problem(line, f"expected a JSON object but found {found}; put one object per example.")
                return records
            records.append((line, value))
            idx = _skip_space(text, end)
            if text.startswith(",", idx):
                idx += 1
                continue
            if text.startswith("]", idx):
                break
            raise json.JSONDecodeError("Expecting ',' or ']'", text, idx)
    except json.JSONDecodeError as err:
        src.problem(
            err.lineno,
            f"not valid JSON ({err.msg}). Fix the JSON there (a JSON Lines file with one object per line also works).",
            column=err.colno,
        )
    except TooDeep:
        src.problem(line, depth_message(), code="limit")
    return records


def _parses_as_list(text: str) -> bool:
    try:
        return isinstance(loads(text), list)
    except (TooDeep, LongNumber):
        return True  # an array Python's json refuses: _parse_json_array names the place
    except json.JSONDecodeError:
        return False


def _first_line_is_object(text: str) -> bool:
    try:
        return isinstance(loads(text.split("\n", 1)[0]), dict) and "\n" in text
    except (json.JSONDecodeError, TooDeep):
        return False


def _skip_space(text: str, idx: int) -> int:
    while idx < len(text) and text[idx] in " \t\r\n":
        idx += 1
    return idx
