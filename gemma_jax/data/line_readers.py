"""Bounded, decoded line reading shared by the line formats (JSONL/JSON, CSV/TSV, plain text).

Memory stays bounded by the longest line (or record), not the file: a 1 GB JSONL is read one
line at a time, and a line longer than max_record_bytes is reported and skipped in pieces,
never held. The formats themselves are json_readers.py, csv_readers.py and text_readers.py,
which build on `open_lines`; this module imports none of them.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import IO, AnyStr

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.errors import DataError
from gemma_jax.data.record_source import RecordSource
from gemma_jax.data.text_codecs import WIDE_ENCODINGS, text_codec

_SKIP_CHUNK = 1 << 20  # a line over the cap is skipped this much at a time
# codecs.lookup(...).name spells these with hyphens: utf-16, utf-16-le, utf-16-be, utf-32, utf-32-le, utf-32-be


def open_lines(fmt: str, path: Path, display: str, cfg: DataConfig) -> tuple[RecordSource, Iterator[tuple[int, str]]]:
    """A RecordSource for a line format (its records still to be set by the format's reader) and
    its decoded lines, read lazily; an unknown data.encoding is refused before anything is read."""
    src = RecordSource(display, path.name, fmt, "line", None, iter(()))
    try:
        codecs.lookup(cfg.encoding or "utf-8")
    except LookupError:
        raise DataError(
            f"Cannot read {display}: data.encoding {cfg.encoding!r} is not a known text encoding. "
            "Use e.g. utf-8, latin-1 or cp1252.",
            path=display,
        ) from None
    return src, decoded_lines(path, src, cfg.encoding or "utf-8")


def decoded_lines(path: Path, src: RecordSource, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, text with its line break), decoding one line at a time.

    Undecodable bytes are reported (line, column, the byte) and replaced, so one bad
    line does not hide the rest; a zero byte means binary data and stops reading.
    """
    codec = text_codec(path, src.display, encoding)
    if codec.startswith(WIDE_ENCODINGS):
        yield from _wide_lines(path, src, codec, encoding)
        return
    name = "UTF-8" if codec == "utf-8-sig" else encoding
    with path.open("rb") as f:
        for lineno, raw in _bounded_lines(f, src, b"\n"):
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
                src.undecodable.append(lineno)  # its record never becomes an example (checks.build_report)
                text = raw.decode(codec, errors="replace")
            yield lineno, text


def _bounded_lines(f: IO[AnyStr], src: RecordSource, newline: AnyStr) -> Iterator[tuple[int, AnyStr]]:
    """(line number, line) of an open file, never reading more than max_record_bytes + 1 at once: a
    longer line is a problem naming the cap, skipped a piece at a time (the next line is read on)."""
    cap = limits.LIMITS.max_record_bytes
    lineno = 0
    while line := f.readline(cap + 1):
        lineno += 1
        if len(line) <= cap or line.endswith(newline):
            yield lineno, line
            continue
        size = len(line)
        while line and not line.endswith(newline):
            line = f.readline(_SKIP_CHUNK)
            size += len(line)
        shown = limits.size_text(size) if isinstance(line, bytes) else f"{size:,} characters"
        what = f"this line is {shown} long"
        src.problem(lineno, limits.over_limit("max_record_bytes", what, limits.LONG_LINE_FIX), code="limit")


def _wide_lines(path: Path, src: RecordSource, codec: str, encoding: str) -> Iterator[tuple[int, str]]:
    """UTF-16/UTF-32 lines, split on "\n" only (as the UTF-8 reader splits bytes), decoded as read."""
    lineno = 0
    try:
        with path.open("r", encoding=codec, newline="\n") as f:
            for lineno, text in _bounded_lines(f, src, "\n"):
                if lineno == 1 and text.startswith("\ufeff"):
                    text = text[1:]  # a BOM the order-specific codec (utf-16-le, ...) leaves in
                zero = text.find("\x00")
                if zero >= 0:
                    src.problem(
                        lineno,
                        f"the file holds binary data (a zero character), not {encoding} {src.format} text. Is it "
                        f"really a {src.format} file in {encoding}? Export the data as text and try again.",
                        column=zero + 1,
                        code="encoding",
                    )
                    return
                yield lineno, text
    except UnicodeDecodeError as err:
        src.problem(
            lineno + 1, f"the file is not {encoding} text ({err.reason}). Check data.encoding.", code="encoding"
        )
