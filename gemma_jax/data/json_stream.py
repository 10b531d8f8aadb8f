"""Big JSON arrays and objects, record by record through `ijson`, each with the line it starts on.

ijson parses UTF-8 bytes: a file in another encoding is read through text_codecs.utf8_reader, which
decodes and encodes it a piece at a time, so every encoding streams with the same bounds.

Memory stays bounded by one record: a record over max_record_bytes, a value over max_cell_chars
(a token longer than that would be held whole), or nesting over max_json_depth ends reading with
a problem naming the cap.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import ijson
from ijson.common import ObjectBuilder

from gemma_jax.data import limits
from gemma_jax.data.json_values import depth_message, dict_rows, equal_columns, too_many_columns
from gemma_jax.data.record_source import Record, RecordSource
from gemma_jax.data.text_codecs import utf8_reader

_CHUNK = 1 << 20  # bytes read at a time; yajl rescans a token cut across feeds, so feeds are not small
_DEEP_PIECE = 256  # bytes fed at a time where a piece has many opening brackets
_STARTS, _ENDS = ("start_map", "start_array"), ("end_map", "end_array")


class _JsonSyntaxError(Exception):
    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason


class _JsonStop(Exception):
    """Reading stops at `line`: a cap was hit (code "limit") or the file stopped decoding ("encoding");
    `message` says which and what to do."""

    def __init__(self, line: int, message: str, code: str = "limit"):
        super().__init__(message)
        self.line, self.message, self.code = line, message, code


def streamed_json(path: Path, src: RecordSource, first: str, codec: str = "utf-8") -> Iterator[Record]:
    """A big JSON array or object, record by record (see json_readers for the object layouts);
    `codec` decodes the file (text_codecs.text_codec)."""
    if first == "[":
        return dict_rows(_json_items(path, codec, src, ("item",)), src)
    layout = _object_layout(path, codec, src)
    if layout is None:
        return iter(())
    kind, keys = layout
    if kind == "rows":
        src.unit = "row"
        rows = _json_items(path, codec, src, (keys[0], "item"))
        return dict_rows(((n, v) for n, (_, v) in enumerate(rows, 1)), src)
    if kind == "columns":
        columns = [(v for _, v in _json_items(path, codec, src, (key, "item"))) for key in keys]
        return ((n, dict(zip(keys, values))) for n, values in enumerate(zip(*columns), 1))
    return ((1, value) for _, value in _json_items(path, codec, src, ()))


Event = tuple[int, int, tuple, int, str, object]  # line, bytes read, path head, path length, event, value


def _json_events(path: Path, codec: str, src: RecordSource) -> Iterator[Event]:
    """Every JSON event of the file with its line and place, in bounded memory.

    The place is the event's path (ijson's prefix: top-level key or "item" for array elements,
    then the next level) as its first two parts and its length; it is tracked here, not by
    ijson, whose prefix strings grow with every level (quadratic in the nesting). The file is
    fed in pieces cut at line ends, so each event's line is the line being fed when it came out.
    Raises _JsonSyntaxError(line, reason) on invalid JSON, and _JsonStop when nesting passes
    max_json_depth (plus the array or object holding the records) or more than max_cell_chars
    pass without an event (one token that long would be held whole).
    """
    cap = limits.LIMITS
    most_depth = cap.max_json_depth + 2
    containers: list[list] = []  # per open container: [is a map, its current key]
    at: list = []  # the path of the innermost open container
    for line, fed, event, value in _basic_events(path, codec, src, most_depth):
        if event in _STARTS:
            if containers:
                at.append(containers[-1][1] if containers[-1][0] else "item")
            yield line, fed, tuple(at[:2]), len(at), event, value
            containers.append([event == "start_map", None])
            if len(containers) > most_depth:
                raise _JsonStop(line, depth_message())
        elif event in _ENDS:
            containers.pop()
            yield line, fed, tuple(at[:2]), len(at), event, value
            if containers:
                at.pop()
        elif event == "map_key":
            yield line, fed, tuple(at[:2]), len(at), event, value
            containers[-1][1] = value
        elif containers:
            child = containers[-1][1] if containers[-1][0] else "item"
            yield line, fed, tuple([*at[:2], child][:2]), len(at) + 1, event, value
        else:
            yield line, fed, (), 0, event, value


def _basic_events(path: Path, codec: str, src: RecordSource, most_depth: int) -> Iterator[tuple[int, int, str, object]]:
    """(line, UTF-8 bytes read, event, value) from ijson's basic parser, fed a line (or 1 MiB) at a time.

    A piece with more opening brackets than `most_depth` is fed in small parts, so no one feed
    can nest far past the cap before the caller sees it.
    """
    events = ijson.sendable_list()
    parser = ijson.basic_parse_coro(events, use_float=True)
    line, fed, last_event = 1, 0, 0
    cap = limits.LIMITS.max_cell_chars
    with utf8_reader(path, codec) as f:
        head = True
        while chunk := _read(f, line, codec):
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
                for piece in _pieces(part, most_depth):
                    fed += len(piece)
                    try:
                        parser.send(piece)
                    except ijson.JSONError as err:
                        raise _JsonSyntaxError(line, _ijson_reason(err)) from None
                    if events:
                        last_event = fed
                    elif fed - last_event > cap:
                        what = f"a value here is longer than {limits.size_text(cap)}"
                        raise _JsonStop(line, limits.over_limit("max_cell_chars", what, limits.LONG_VALUE_FIX))
                    for event, value in events:
                        yield line, fed, event, value
                    del events[:]
                if not last:
                    line += 1
    try:
        parser.close()
    except ijson.JSONError as err:
        raise _JsonSyntaxError(line, _ijson_reason(err)) from None
    for event, value in events:
        yield line, fed, event, value


def _read(f: IO[bytes], line: int, codec: str) -> bytes:
    """The next chunk (b"" at the end); _JsonStop when it does not decode (on `line` or soon after)."""
    try:
        return f.read(_CHUNK)
    except UnicodeDecodeError as err:
        message = f"the file is not {codec} text ({err.reason}) on this line or soon after. Check data.encoding."
        raise _JsonStop(line, message, code="encoding") from None


def _pieces(part: bytes, most_depth: int) -> Iterator[bytes]:
    """`part`, whole when it cannot open more than `most_depth` containers, else in small pieces."""
    if part.count(b"[") + part.count(b"{") <= most_depth:
        if part:
            yield part
        return
    for start in range(0, len(part), _DEEP_PIECE):
        yield part[start : start + _DEEP_PIECE]


def _ijson_reason(err: Exception) -> str:
    reason = str(err).strip().split("\n", 1)[0].removeprefix("parse error: ").removeprefix("lexical error: ")
    if "premature EOF" in reason or "Incomplete" in reason:
        return "the file ends in the middle of a value"
    return limits.shorten(reason, 200)


def _json_items(path: Path, codec: str, src: RecordSource, prefix: tuple) -> Iterator[tuple[int, object]]:
    """(line it starts on, value) of every JSON value at path `prefix` (("item",): the elements of a
    top-level array); only one value is held at a time. Invalid JSON, or a value over a cap,
    becomes a problem naming the line and ends the values."""
    cap = limits.LIMITS
    builder: ObjectBuilder | None = None
    start = begun = depth = 0
    try:
        for line, fed, head, level, event, value in _json_events(path, codec, src):
            here = level == len(prefix) and head == prefix
            if builder is not None:
                builder.event(event, value)
                depth += (event in _STARTS) - (event in _ENDS)
                if depth > cap.max_json_depth:
                    raise _JsonStop(line, depth_message())
                if fed - begun > cap.max_record_bytes:
                    what = (
                        f"the record starting on line {start} is longer than {limits.size_text(cap.max_record_bytes)}"
                    )
                    raise _JsonStop(line, limits.over_limit("max_record_bytes", what, _ONE_RECORD_FIX))
                if here and event in _ENDS:
                    yield start, builder.value
                    builder = None
            elif here:
                if event in _STARTS:
                    builder, start, begun, depth = ObjectBuilder(), line, fed, 1
                    builder.event(event, value)
                elif event not in (*_ENDS, "map_key"):
                    yield line, value
    except _JsonSyntaxError as err:
        src.problem(
            err.line,
            f"not valid JSON ({err.reason}). Fix the JSON there (a JSON Lines file with one object per line also works).",
        )
    except _JsonStop as err:
        src.problem(err.line, err.message, code=err.code)


_ONE_RECORD_FIX = "One example is far smaller: check that the objects are separate elements of the array."


def _object_layout(path: Path, codec: str, src: RecordSource) -> tuple[str, list[str]] | None:
    """One pass over a top-level object: ("rows", [key]) for {"key": [{..}, ..]}, ("columns", keys)
    for {"col": [..], ..} (equal lengths), ("record", keys) for anything else; None after a problem."""
    keys: dict[str, list] = {}  # key -> [is a list, items, all items objects]
    try:
        for _line, _, head, level, event, value in _json_events(path, codec, src):
            if level == 1 and head[0] in keys:
                if event == "start_array" and keys[head[0]][1] == -1:
                    keys[head[0]][:2] = [True, 0]
            elif event == "map_key" and level == 0:
                keys[value] = [False, -1, True]
                if too_many_columns(keys, src):
                    return None
            elif level == 2 and head[1] == "item" and head[0] in keys and event not in (*_ENDS, "map_key"):
                info = keys[head[0]]
                info[1] += 1
                info[2] = info[2] and event == "start_map"
    except _JsonSyntaxError as err:
        src.problem(err.line, f"not valid JSON ({err.reason}). Fix the JSON there.")
        return None
    except _JsonStop as err:
        src.problem(err.line, err.message, code=err.code)
        return None
    lists = {k: v for k, v in keys.items() if v[0]}
    if len(lists) == 1 and len(keys) == 1 and next(iter(lists.values()))[2]:
        return "rows", list(lists)
    if lists and len(lists) == len(keys):
        return ("columns", list(lists)) if equal_columns({k: v[1] for k, v in lists.items()}, src) else None
    return "record", list(keys)
