"""Readers for text formats (JSONL, JSON, CSV/TSV, plain text) that stream line by line.

Memory stays bounded by the longest line (or record), not the file: a 1 GB JSONL
is read one line at a time. A JSON array or object (of columns, or {"key": [rows]})
larger than STREAM_JSON_BYTES streams through `ijson`, one record at a time, each with
the line it starts on; smaller ones are parsed whole with Python's json, which names
the exact column of a syntax error and accepts Python's NaN/Infinity.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import ijson
from ijson.common import ObjectBuilder

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.errors import DataError
from gemma_jax.data.formats import JSONL_HINT, Record, RecordSource

MAX_FIELD_CHARS = 16 * 1024 * 1024  # a CSV value longer than this is a broken file, not an example
STREAM_JSON_BYTES = 8 * 1024 * 1024  # UTF-8 JSON arrays/objects above this size stream through ijson
_CHUNK = 1 << 16
_FIRST_LINE_LIMIT = 1 << 20  # how much of a first line is read to tell JSON Lines from one JSON value
_WIDE_ENCODINGS = ("utf_16", "utf_32")
_BOMS = {codecs.BOM_UTF16_LE: "utf-16", codecs.BOM_UTF16_BE: "utf-16", codecs.BOM_UTF32_LE: "utf-32"}


def open_text_format(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    src = RecordSource(display, path.name, fmt, "line", None, iter(()))
    try:
        codecs.lookup(cfg.encoding or "utf-8")
    except LookupError:
        raise DataError(
            f"Cannot read {display}: data.encoding {cfg.encoding!r} is not a known text encoding. "
            "Use e.g. utf-8, latin-1 or cp1252.",
            path=display,
        ) from None
    lines = decoded_lines(path, src, cfg.encoding or "utf-8")
    if fmt in ("jsonl", "json"):
        src.records = _json_records(fmt, path, src, lines, codecs.lookup(cfg.encoding or "utf-8").name)
    elif fmt in ("csv", "tsv"):
        delimiter = cfg.delimiter or ("\t" if fmt == "tsv" or path.suffix.lower() == ".tsv" else ",")
        src.records = _csv_records(src, lines, delimiter, cfg.quote_char or '"', cfg.header)
        src.columns = _csv_header_now(src)
    else:
        src.records = _text_records(src, lines, cfg)
    return src


def decoded_lines(path: Path, src: RecordSource, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, text with its line break), decoding one line at a time.

    Undecodable bytes are reported (line, column, the byte) and replaced, so one bad
    line does not hide the rest; a zero byte means binary data and stops reading.
    """
    codec = codecs.lookup(encoding).name
    with path.open("rb") as f:
        head = f.read(4)
    for bom, wide in _BOMS.items():
        if head.startswith(bom) and not codec.startswith(_WIDE_ENCODINGS):
            raise DataError(
                f"{src.display} is {wide.upper()} text, not {encoding}. Save it as UTF-8, or set data.encoding: {wide}.",
                path=src.display,
            )
    if codec.startswith(_WIDE_ENCODINGS):
        yield from _wide_lines(path, src, encoding)
        return
    codec = "utf-8-sig" if codec == "utf-8" else codec
    name = "UTF-8" if codec == "utf-8-sig" else encoding
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and codec == "utf-8-sig" and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            zero = raw.find(b"\x00")
            if zero >= 0:
                src.problem(
                    lineno,
                    f"the file holds binary data (a zero byte), not {src.format} text. Is it really a "
                    f"{src.format} file? Export the data as text and try again.",
                    column=zero + 1,
                    code="encoding",
                )
                return
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as err:
                src.problem(
                    lineno,
                    f"the file is not {name} text (byte 0x{raw[err.start]:02x}). Save it with {name} encoding "
                    "and try again, or set data.encoding to the file's encoding (e.g. latin-1, cp1252).",
                    column=err.start + 1,
                    code="encoding",
                )
                text = raw.decode(codec, errors="replace")
            yield lineno, text


def _wide_lines(path: Path, src: RecordSource, encoding: str) -> Iterator[tuple[int, str]]:
    lineno = 0
    try:
        with path.open("r", encoding=encoding, newline="") as f:
            for lineno, text in enumerate(f, 1):
                yield lineno, text
    except UnicodeDecodeError as err:
        src.problem(
            lineno + 1, f"the file is not {encoding} text ({err.reason}). Check data.encoding.", code="encoding"
        )


# ----- JSON Lines and JSON ---------------------------------------------------------------------------------
def _json_records(
    fmt: str, path: Path, src: RecordSource, lines: Iterator[tuple[int, str]], codec: str = "utf-8"
) -> Iterator[Record]:
    first = _first_char(path)
    if first == "[" or (fmt == "json" and first == "{"):
        if codec == "utf-8" and path.stat().st_size > STREAM_JSON_BYTES and not _json_lines_after_all(path, first):
            return _streamed_json(path, src, first)
        text = "".join(line for _, line in lines)
        whole = _whole_json(fmt, text, src)
        if whole is not None:
            return iter(whole)
        lines = enumerate(text.splitlines(keepends=True), 1)
    return _jsonl(src, lines)


# ----- streamed JSON (ijson) ---------------------------------------------------------------------------------
class _JsonSyntaxError(Exception):
    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason


def _json_lines_after_all(path: Path, first: str) -> bool:
    """A file starting with "[" or "{" whose first line is a whole JSON value (an object for "{") with
    more lines after it is JSON Lines, as `_whole_json` decides for files parsed whole."""
    with path.open("rb") as f:
        line = b""
        while not line.strip(b" \t\r\n\xef\xbb\xbf"):
            line = f.readline(_FIRST_LINE_LIMIT)
            if not line:
                return False
        if not line.endswith(b"\n") or line.strip() == b"[":
            return False  # a long first line or a bare "[": one JSON value
        try:
            value = json.loads(line.lstrip(codecs.BOM_UTF8))
        except ValueError:
            return False
        if first == "{" and not isinstance(value, dict):
            return False
        while rest := f.read(_CHUNK):
            if rest.strip():
                return True
    return False


def _json_events(path: Path, src: RecordSource) -> Iterator[tuple[int, str, str, object]]:
    """(line, prefix, event, value) for every ijson event of a UTF-8 file, in bounded memory.

    The file is fed to ijson in pieces cut at line ends, so each event's line is the line
    being fed when it came out. Raises _JsonSyntaxError(line, reason) on invalid JSON.
    """
    events = ijson.sendable_list()
    parser = ijson.parse_coro(events, use_float=True)
    line = 1
    with path.open("rb") as f:
        head = True
        while chunk := f.read(_CHUNK):
            if head:
                chunk, head = chunk.removeprefix(codecs.BOM_UTF8), False
            zero = chunk.find(b"\x00")
            if zero >= 0:
                lineno = line + chunk.count(b"\n", 0, zero)
                src.problem(
                    lineno,
                    "the file holds binary data (a zero byte), not json text. Is it really a json file? "
                    "Export the data as text and try again.",
                    code="encoding",
                )
                return
            parts = chunk.split(b"\n")
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                if not last:
                    part += b"\n"
                if part:
                    try:
                        parser.send(part)
                    except ijson.JSONError as err:
                        raise _JsonSyntaxError(line, _ijson_reason(err)) from None
                    for event in events:
                        yield (line, *event)
                    del events[:]
                if not last:
                    line += 1
    try:
        parser.close()
    except ijson.JSONError as err:
        raise _JsonSyntaxError(line, _ijson_reason(err)) from None
    for event in events:
        yield (line, *event)


def _ijson_reason(err: Exception) -> str:
    reason = str(err).strip().split("\n", 1)[0].removeprefix("parse error: ").removeprefix("lexical error: ")
    if "premature EOF" in reason or "Incomplete" in reason:
        return "the file ends in the middle of a value"
    return reason


def _json_items(path: Path, src: RecordSource, prefix: str) -> Iterator[tuple[int, object]]:
    """(line it starts on, value) of every JSON value at ijson `prefix` ("item": the elements of a
    top-level array); only one value is held at a time. Invalid JSON becomes a problem naming the line."""
    builder: ObjectBuilder | None = None
    start = 0
    try:
        for line, at, event, value in _json_events(path, src):
            if builder is not None:
                builder.event(event, value)
                if at == prefix and event in ("end_map", "end_array"):
                    yield start, builder.value
                    builder = None
            elif at == prefix:
                if event in ("start_map", "start_array"):
                    builder, start = ObjectBuilder(), line
                    builder.event(event, value)
                elif event not in ("end_map", "end_array", "map_key"):
                    yield line, value
    except _JsonSyntaxError as err:
        src.problem(
            err.line,
            f"not valid JSON ({err.reason}). Fix the JSON there (a JSON Lines file with one object per line also works).",
        )


def _streamed_json(path: Path, src: RecordSource, first: str) -> Iterator[Record]:
    """A big JSON array or object, record by record (see _object_records for the object layouts)."""
    if first == "[":
        return _dict_rows(_json_items(path, src, "item"), src)
    layout = _object_layout(path, src)
    if layout is None:
        return iter(())
    kind, keys = layout
    if kind == "rows":
        src.unit = "row"
        return _dict_rows(((n, v) for n, (_, v) in enumerate(_json_items(path, src, f"{keys[0]}.item"), 1)), src)
    if kind == "columns":
        columns = [(v for _, v in _json_items(path, src, f"{key}.item")) for key in keys]
        return ((n, dict(zip(keys, values))) for n, values in enumerate(zip(*columns), 1))
    return ((1, value) for _, value in _json_items(path, src, ""))


def _dict_rows(items: Iterator[tuple[int, object]], src: RecordSource) -> Iterator[Record]:
    for number, value in items:
        if not isinstance(value, dict):
            src.problem(number, f"expected a JSON object but found {_json_kind(value)}; put one object per example.")
            return
        yield number, value


def _object_layout(path: Path, src: RecordSource) -> tuple[str, list[str]] | None:
    """One pass over a top-level object: ("rows", [key]) for {"key": [{..}, ..]}, ("columns", keys)
    for {"col": [..], ..} (equal lengths), ("record", keys) for anything else; None after a problem."""
    keys: dict[str, list] = {}  # key -> [is a list, items, all items objects]
    try:
        for _, at, event, _value in _json_events(path, src):
            if at in keys:
                if event == "start_array" and keys[at][1] == -1:
                    keys[at][:2] = [True, 0]
            elif event == "map_key" and at == "":
                keys[_value] = [False, -1, True]
            elif at.endswith(".item") and at[:-5] in keys and event not in ("end_map", "end_array", "map_key"):
                info = keys[at[:-5]]
                info[1] += 1
                info[2] = info[2] and event == "start_map"
    except _JsonSyntaxError as err:
        src.problem(err.line, f"not valid JSON ({err.reason}). Fix the JSON there.")
        return None
    lists = {k: v for k, v in keys.items() if v[0]}
    if len(lists) == 1 and len(keys) == 1 and next(iter(lists.values()))[2]:
        return "rows", list(lists)
    if lists and len(lists) == len(keys):
        return ("columns", list(lists)) if _equal_columns({k: v[1] for k, v in lists.items()}, src) else None
    return "record", list(keys)


def _jsonl(src: RecordSource, lines) -> Iterator[Record]:
    for lineno, line in lines:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            src.problem(lineno, f"not valid JSON ({err.msg}); {JSONL_HINT}.", column=err.colno)
            continue
        if not isinstance(value, dict):
            src.problem(lineno, f"expected a JSON object but found {_json_kind(value)}; {JSONL_HINT}.", column=1)
            continue
        yield lineno, value


def _first_char(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(65536).lstrip(codecs.BOM_UTF8 + b" \t\r\n")
    return head[:1].decode("latin-1")


def _whole_json(fmt: str, text: str, src: RecordSource) -> list[Record] | None:
    """Records of a JSON array or object; None when the text is JSON Lines after all."""
    stripped = text.strip()
    if stripped.startswith("["):
        if stripped.split("\n", 1)[0].strip() != "[" and not _parses_as_list(stripped):
            return None
        return _parse_json_array(text, src)
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data" or _first_line_is_object(stripped):
            return None  # JSON Lines in a .json file
        src.problem(err.lineno, f"not valid JSON ({err.msg}). Fix the JSON there.", column=err.colno)
        return []
    if not isinstance(value, dict):
        src.problem(
            1, f"expected a JSON array of objects (or an object of columns) but found {_json_kind(value)}.", column=1
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
        if not _equal_columns({k: len(v) for k, v in lists.items()}, src):
            return []
        most = len(next(iter(lists.values())))
        return [(i + 1, {k: v[i] for k, v in lists.items()}) for i in range(most)]
    return [(1, value)]


def _equal_columns(lengths: dict[str, int], src: RecordSource) -> bool:
    """A JSON object of columns: rows are numbered from here on; a problem for each short column."""
    src.unit, src.columns = "row", list(lengths)
    most = max(lengths.values())
    for key, n in lengths.items():
        if n != most:
            src.problem(
                None,
                f"column {key!r} has {n} values but others have {most}; in a JSON object of "
                "columns every column needs one value per example.",
                code="columns",
            )
    return all(n == most for n in lengths.values())


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
            value, end = decoder.raw_decode(text, idx)
            line += text.count("\n", counted, idx)
            counted = idx
            if not isinstance(value, dict):
                found = _json_kind(value)
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
    return records


def _parses_as_list(text: str) -> bool:
    try:
        return isinstance(json.loads(text), list)
    except json.JSONDecodeError:
        return False


def _first_line_is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text.split("\n", 1)[0]), dict) and "\n" in text
    except json.JSONDecodeError:
        return False


def _skip_space(text: str, idx: int) -> int:
    while idx < len(text) and text[idx] in " \t\r\n":
        idx += 1
    return idx


def _json_kind(value: object) -> str:
    names = {list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


# ----- CSV / TSV ---------------------------------------------------------------------------------------------
def _csv_header_now(src: RecordSource) -> list[str] | None:
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


def _csv_records(
    src: RecordSource, lines: Iterator[tuple[int, str]], delimiter: str, quote: str, header_row: bool
) -> Iterator[Record]:
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    reader = csv.reader((line for _, line in lines), delimiter=delimiter, quotechar=quote)
    sep = "tab" if delimiter == "\t" else repr(delimiter)
    try:
        first = next(reader, None)
        if first is None:
            return
        header = [name.strip() for name in first] if header_row else [f"column{i}" for i in range(1, len(first) + 1)]
        if header_row:
            _check_header(src, header, delimiter)
        src.columns = header
        yield 0, {}  # marker: the header is known (dropped by _csv_header_now)
        if not header_row:
            record = _row_record(src, header, 1, first, sep)
            if record is not None:
                yield record
        start = reader.line_num + 1
        for row in reader:
            lineno, start = start, reader.line_num + 1
            record = _row_record(src, header, lineno, row, sep)
            if record is not None:
                yield record
    except csv.Error as err:
        where = reader.line_num or 1
        if "field larger than field limit" in str(err):
            message = (
                f"a value is longer than {MAX_FIELD_CHARS:,} characters, far too long for one example; the row "
                "probably lacks a closing quote, or holds pasted data. Fix or remove it."
            )
        else:
            message = f"the CSV cannot be read ({err}). Check the quoting on that line."
        src.problem(where, message)


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
            f"ones ({', '.join(repr(h) for h in header[len(row) :])}) are read as empty.",
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
                f"the header names column {name!r} twice; give every column a different name.",
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
                    f"the header is one column {header[0]!r} that contains {other!r}: the file looks separated "
                    f"by {other!r}, not {delimiter!r}. Set data.delimiter: {shown!r}.",
                    code="delimiter",
                )
                break


# ----- plain text --------------------------------------------------------------------------------------------
def _text_records(src: RecordSource, lines: Iterator[tuple[int, str]], cfg: DataConfig) -> Iterator[Record]:
    column = cfg.text_column
    if cfg.text_mode == "lines":
        for lineno, line in lines:
            if line.strip():
                yield lineno, {column: line.rstrip("\r\n")}
        return
    pattern = None
    if cfg.text_mode == "regex":
        try:
            pattern = re.compile(cfg.text_regex or "")
        except re.error as err:
            raise DataError(
                f"Cannot read {src.display}: data.text_regex is not a valid regular expression ({err}).",
                path=src.display,
            ) from None
        if not pattern.groupindex:
            raise DataError(
                f"Cannot read {src.display}: data.text_regex has no named groups such as (?P<prompt>...).",
                path=src.display,
            )
    for start, block in _blocks(lines):
        if pattern is None:
            yield start, {column: block}
        else:
            yield from _regex_records(src, pattern, start, block)


def _blocks(lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Blank-line separated blocks as (first line, text without the trailing line break)."""
    start, parts = 0, []
    for lineno, line in lines:
        if line.strip():
            if not parts:
                start = lineno
            parts.append(line)
        elif parts:
            yield start, "".join(parts).rstrip("\r\n")
            parts = []
    if parts:
        yield start, "".join(parts).rstrip("\r\n")


def _regex_records(src: RecordSource, pattern: re.Pattern, start: int, block: str) -> Iterator[Record]:
    pos = 0
    for match in pattern.finditer(block):
        if match.end() == match.start():
            continue
        _unmatched(src, block, pos, match.start(), start)
        pos = match.end()
        line = start + block.count("\n", 0, match.start())
        yield line, {k: (v if v is not None else "") for k, v in match.groupdict().items()}
    _unmatched(src, block, pos, len(block), start)


def _unmatched(src: RecordSource, block: str, begin: int, end: int, start: int) -> None:
    gap = block[begin:end]
    if gap.strip():
        offset = begin + (len(gap) - len(gap.lstrip()))
        line = start + block.count("\n", 0, offset)
        snippet = gap.strip().splitlines()[0][:60]
        src.problem(
            line,
            f"this text does not match data.text_regex ({snippet!r}); fix the text or the pattern.",
            code="format",
        )
