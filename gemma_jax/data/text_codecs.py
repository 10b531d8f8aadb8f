"""Which codec reads a data file, and a file in any encoding as UTF-8 bytes for byte parsers (ijson).

A leaf module: the line readers and the JSON readers both use it, and it imports no reader.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import IO

from gemma_jax.data.errors import DataError

WIDE_ENCODINGS = ("utf-16", "utf-32")
# Longest first: a UTF-32-LE BOM (ff fe 00 00) starts with the UTF-16-LE one (ff fe).
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF_BYTES = 4096  # a UTF-16/32 file without a BOM: its byte order is guessed from this much
_RECODE_CHARS = 1 << 13  # characters decoded at a time for utf8_reader: a decoding error loses at most this much


def text_codec(path: Path, display: str, encoding: str) -> str:
    """The codec that decodes `path` as data.encoding `encoding` says: "utf-8-sig" for utf-8 (a BOM is
    skipped), a UTF-16/32 file's own byte order, else the setting's codec. A BOM of another family
    than the setting's is a DataError naming the encoding to set."""
    codec = codecs.lookup(encoding).name
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    marked = next((family for bom, family in _BOMS if head.startswith(bom)), None)
    wide = next((family for family in WIDE_ENCODINGS if codec.startswith(family)), None)
    if marked == "utf-8" and wide is None:
        marked = None  # a UTF-8 BOM in a one-byte encoding's file is that encoding's characters
    if marked is not None and marked != wide:
        raise DataError(
            f"{display} is {marked.upper()} text, not {encoding}. "
            + (
                "Set data.encoding: utf-8."
                if marked == "utf-8"
                else f"Save it as UTF-8, or set data.encoding: {marked}."
            ),
            path=display,
        )
    if wide is not None:
        # A BOM names the byte order (the family's codec reads it and drops it); without one, an
        # order-less utf-16/utf-32 takes the order the file's zero bytes show, not this machine's.
        return wide if marked else (_byte_order(head, wide) if codec == wide else codec)
    return "utf-8-sig" if codec == "utf-8" else codec


def utf8_reader(path: Path, codec: str) -> IO[bytes]:
    """`path` as UTF-8 bytes, for readers that parse bytes (ijson): the file itself for utf-8 (a BOM
    is left for the caller to skip), else its text decoded with `codec` (from text_codec) and encoded
    again a piece at a time, so memory stays bounded. Bytes that do not decode raise
    UnicodeDecodeError from the read after the one that returns the text before them."""
    if codec in ("utf-8", "utf-8-sig"):
        return path.open("rb")
    return _Utf8Reader(_Recoded(path.open("r", encoding=codec, newline="")), _RECODE_CHARS)


class _Utf8Reader(io.BufferedReader):
    """Raises the decoding error where a read would otherwise end the file (see _Recoded.readinto)."""

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if not data:
            self.raw.raise_pending()
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        if not data:
            self.raw.raise_pending()
        return data


class _Recoded(io.RawIOBase):
    """A text stream read as its UTF-8 bytes (see utf8_reader)."""

    def __init__(self, text: IO[str]):
        self._text = text
        self._pending = b""
        self._at = 0
        self._error: UnicodeDecodeError | None = None

    def readable(self) -> bool:
        return True

    def raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def readinto(self, buffer) -> int:
        if self._at == len(self._pending):
            self.raise_pending()
            try:
                self._pending, self._at = self._text.read(_RECODE_CHARS).encode("utf-8"), 0
            except UnicodeDecodeError as err:
                self._error = err
                return 0  # an end for the read under way, which keeps the text before; the next one raises
        count = min(len(buffer), len(self._pending) - self._at)
        buffer[:count] = self._pending[self._at : self._at + count]
        self._at += count
        return count

    def close(self) -> None:
        self._text.close()
        super().close()


def _byte_order(head: bytes, family: str) -> str:
    """utf-16-le/-be (or utf-32-le/-be) for text without a BOM: mostly-ASCII text has its zero bytes
    after each character's low byte in little-endian order and before it in big-endian order."""
    width = 2 if family == "utf-16" else 4
    head = head[: len(head) - len(head) % width]
    low_first = sum(1 for i in range(0, len(head), width) if head[i] != 0 and head[i + width - 1] == 0)
    high_first = sum(1 for i in range(0, len(head), width) if head[i] == 0 and head[i + width - 1] != 0)
    return f"{family}-be" if high_first > low_first else f"{family}-le"
