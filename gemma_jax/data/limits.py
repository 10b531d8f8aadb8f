"""Caps on what one data source may make the readers hold, so a hostile or broken file ends in a
DataError (or a report problem) that names the cap, instead of taking the process's memory.

Every cap is far above what fine-tuning data needs (one example is at most a few hundred KB of
text: Gemma's longest context, 128k tokens, is about 512 KB) and low enough that reading one
record at the cap stays within a few hundred MB. Readers use `LIMITS` at call time, so a test
may replace it with smaller values. `memory_limit` is the backstop for what a library still
expands: `gemma-jax data check` and the dashboard's check run under it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from gemma_jax.messages import cap_message as shorten  # one way to cut a long message

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The caps; the text under each says why it has its value."""

    max_record_bytes: int = 32 * MiB
    """One line (JSONL, CSV, text), one CSV record, one text block or one JSON/Excel/Parquet row.
    Parsing takes up to ~10x its size in Python objects, so 32 MiB stays under ~400 MB."""

    max_cell_chars: int = 16 * MiB
    """One value (a cell, field or string; bytes for binary formats): 30x Gemma's longest context.
    It was CSV's only cap before; now every format has it."""

    max_columns: int = 4096
    """Columns of a header, record or schema: training data has a handful, spreadsheets at most
    16,384. Above this a file is a matrix or a broken export, and per-column work adds up."""

    max_json_depth: int = 64
    """Nesting of JSON values, a record being level 1 (chat messages are 3 deep). Refused well before
    Python's recursion limit (1,000), so no reader, converter or pickling step recurses that deep."""

    max_uncompressed_bytes: int = 1024 * MiB
    """What one compressed container may expand to: the members of an .xlsx zip (openpyxl holds
    the shared strings whole), a Parquet row group, a .gz/.bz2/.xz/.zip file read through hf:."""

    max_compression_ratio: int = 100
    """Expanded over stored size above which data is a decompression bomb (Apache POI's default
    for .xlsx); real spreadsheets and Parquet files compress 3-20x."""

    ratio_free_bytes: int = 16 * MiB
    """Data expanding to less than this is never refused for its ratio (tiny files compress well)."""

    max_xls_bytes: int = 64 * MiB
    """xlrd reads a whole .xls into memory as cell objects (~10-20x the file); a full legacy
    sheet (65,536 x 256 cells) of normal text is smaller than this."""

    max_message_chars: int = 1000
    """One problem's message (a message quoting a value or listing columns is cut here)."""

    max_error_chars: int = 4000
    """One DataError's message, all its listed problems together."""


LIMITS = Limits()

LONG_LINE_FIX = (
    "A line that long is not one example: a missing line break, or pasted or binary data. Split it into "
    "one example per line, or remove it."
)
LONG_VALUE_FIX = (
    "One value that long is not one example: it probably lacks a closing quote or holds pasted data. Fix or remove it."
)
FEWER_COLUMNS_FIX = "Keep only the columns training needs (e.g. prompt and response)."


def size_text(count: int) -> str:
    """A byte count as people read it: "32 MiB", "1.5 GiB", "812 bytes"."""
    for unit, scale in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", 1024)):
        if count >= scale:
            value = count / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{count:,} bytes"


def over_limit(name: str, what: str, fix: str) -> str:
    """The message for hitting cap `name`: what was over it, the cap and its value, what to do."""
    value = getattr(LIMITS, name)
    shown = size_text(value) if name.endswith("bytes") else f"{value:,}"
    return f"{what}, over the {name} limit of {shown}. {fix}"


def names_text(names: Collection[object], shown: int = 10) -> str:
    """The first `shown` names, each cut short, and a count of the rest: never a million columns."""
    listed = ", ".join(repr(shorten(str(name), 60)) for name in itertools.islice(names, shown))
    more = len(names) - shown
    return f"{listed} and {more:,} more" if more > 0 else listed


def default_memory_budget() -> int:
    """What a data check may use beyond what its process holds at the start: min(4 GiB, half the RAM)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 8 * 1024 * MiB
    return min(4 * 1024 * MiB, ram // 2)


@contextlib.contextmanager
def memory_limit(budget: int) -> Iterator[int]:
    """Cap this process's address space (RLIMIT_AS) at its present size plus `budget` bytes while the
    block runs, so a runaway read ends in MemoryError instead of taking the machine; yields the cap.
    The previous limit comes back afterwards (lowering and restoring a soft limit needs no privilege)."""
    try:
        import resource
    except ImportError:  # not on this platform: nothing to cap
        yield 0
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + budget
    for bound in (soft, hard):
        if bound != resource.RLIM_INFINITY:
            cap = min(cap, bound)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield cap
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    """This process's virtual memory size now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
