"""Decompression-bomb checks for compressed data, run before any library expands it.

An .xlsx is a zip: its central directory declares each member's stored and expanded size, and
Python's zipfile never expands a member past its declared size, so checking the declared sizes
first bounds what openpyxl can be made to hold. Files read through hf: (.gz, .bz2, .xz, .zip)
are expanded once, counting, and refused as soon as a cap is passed.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
import zlib
from pathlib import Path

from gemma_jax.data import limits
from gemma_jax.data.errors import DataError

_CHUNK = 1 << 20
_STREAMS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
BOMB_FIX = (
    "Real data compresses far less: the file is probably a decompression bomb or broken. "
    "Export the data again (e.g. as CSV or JSONL)."
)


def check_zip(path: Path, display: str) -> None:
    """Refuse a zip whose members declare more than max_uncompressed_bytes in all, or one that expands
    more than max_compression_ratio times (raises DataError; zipfile.BadZipFile for a non-zip)."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    total = 0
    for info in members:
        total += info.file_size
        check_ratio(display, f"its part {limits.shorten(info.filename, 80)!r}", info.file_size, info.compress_size)
    _check_total(display, total)


def check_compressed_file(path: Path, display: str) -> None:
    """For a .gz/.bz2/.xz/.zip file: expand it once without keeping it, refusing it at the first cap passed."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        try:
            check_zip(path, display)
        except zipfile.BadZipFile as err:
            raise DataError(f"{display} is not a readable zip file ({err}).", path=display) from None
        return
    opener = _STREAMS.get(suffix)
    if opener is None:
        return
    stored, expanded = path.stat().st_size, 0
    try:
        with opener(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                expanded += len(chunk)
                check_ratio(display, "it", expanded, stored)
                _check_total(display, expanded)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as err:
        raise DataError(
            f"{display} cannot be decompressed ({type(err).__name__}: {err}). Is it complete? Download or "
            "compress it again.",
            path=display,
        ) from None


def check_ratio(display: str, what: str, expanded: int, stored: int) -> None:
    """Raise DataError when data stored in `stored` bytes expands to `expanded`, over max_compression_ratio."""
    cap = limits.LIMITS
    if expanded > cap.ratio_free_bytes and expanded > cap.max_compression_ratio * max(stored, 1):
        found = (
            f"{display}: {what} expands {expanded / max(stored, 1):,.0f} times "
            f"({limits.size_text(stored)} to {limits.size_text(expanded)} or more)"
        )
        raise DataError(limits.over_limit("max_compression_ratio", found, BOMB_FIX), path=display)


def _check_total(display: str, expanded: int) -> None:
    if expanded > limits.LIMITS.max_uncompressed_bytes:
        found = f"{display} expands to {limits.size_text(expanded)} or more"
        fix = "Split the data into smaller files, or keep only the columns and rows training needs."
        raise DataError(limits.over_limit("max_uncompressed_bytes", found, fix), path=display)
