"""Plain text (data.format: text): one example per line, per blank-line separated block, or per
data.text_regex match, read from line_readers' bounded lines.

A block is held only up to max_record_bytes; a longer one is reported and skipped to the next
blank line. Text the pattern does not match is reported with its line, never dropped silently.

data.text_regex runs under the third-party `regex` module (its default VERSION0 syntax is `re`'s),
because it can stop a match that runs too long: a pattern that backtracks catastrophically is a
clear error after REGEX_TIMEOUT_S, not a reader stuck in C code that even SIGTERM cannot stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import regex

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.errors import DataError
from gemma_jax.data.line_readers import open_lines
from gemma_jax.data.record_source import Record, RecordSource

REGEX_TIMEOUT_S = 1.0  # the longest one search for the next data.text_regex match may take


def open_text(fmt: str, path: Path, display: str, cfg: DataConfig) -> RecordSource:
    """Plain text as records of data.text_column (or of the regex's named groups)."""
    src, lines = open_lines(fmt, path, display, cfg)
    src.records = _text_records(src, lines, cfg)
    return src


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
            pattern = regex.compile(cfg.text_regex or "")
        except regex.error as err:
            raise DataError(
                f"Cannot read {src.display}: data.text_regex is not a valid regular expression ({err}).",
                path=src.display,
            ) from None
        if not pattern.groupindex:
            raise DataError(
                f"Cannot read {src.display}: data.text_regex has no named groups such as (?P<prompt>...).",
                path=src.display,
            )
    for start, block in _blocks(src, lines):
        if pattern is None:
            yield start, {column: block}
        else:
            yield from _regex_records(src, pattern, start, block)


def _blocks(src: RecordSource, lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Blank-line separated blocks as (first line, text without the trailing line break); a block
    over max_record_bytes is a problem and skipped to the next blank line, never held whole."""
    cap = limits.LIMITS.max_record_bytes
    start, parts, size = 0, [], 0
    for lineno, line in lines:
        if not line.strip():
            if parts:
                yield start, "".join(parts).rstrip("\r\n")
            parts, size = [], 0
            continue
        if size == 0:
            start = lineno
        size += len(line)
        if size <= cap:
            parts.append(line)
        elif parts:
            what = f"the block of lines starting here is over {size:,} characters long"
            fix = "Separate the examples with blank lines, or remove the block."
            src.problem(start, limits.over_limit("max_record_bytes", what, fix), code="limit")
            parts = []
    if parts:
        yield start, "".join(parts).rstrip("\r\n")


def _regex_records(src: RecordSource, pattern: regex.Pattern, start: int, block: str) -> Iterator[Record]:
    pos = 0
    for match in _matches(src, pattern, start, block):
        if match.end() == match.start():
            continue
        _unmatched(src, block, pos, match.start(), start)
        pos = match.end()
        line = start + block.count("\n", 0, match.start())
        yield line, {k: (v if v is not None else "") for k, v in match.groupdict().items()}
    _unmatched(src, block, pos, len(block), start)


def _matches(src: RecordSource, pattern: regex.Pattern, start: int, block: str) -> Iterator[regex.Match]:
    """pattern.finditer(block), each match found within REGEX_TIMEOUT_S (finditer's own timeout is for
    all of them): a fresh finditer from where the last match ended, skipping that match again when it
    was empty, so the matches are finditer's, empty ones included."""
    pos, empty_at = 0, None
    while pos <= len(block):
        try:
            found = pattern.finditer(block, pos, timeout=REGEX_TIMEOUT_S)
            match = next(found, None)
            if match is not None and match.start() == match.end() == empty_at:
                match = next(found, None)  # finditer steps past an empty match; so does this
        except TimeoutError:
            line = start + block.count("\n", 0, pos)
            raise DataError(
                f"Cannot read {src.display}: data.text_regex took over {REGEX_TIMEOUT_S:g} s on line {line}: it "
                "backtracks catastrophically (nested repeats like (a+)+ or (a|aa)+); simplify it.",
                path=src.display,
            ) from None
        if match is None:
            return
        yield match
        empty_at = match.end() if match.start() == match.end() else None
        pos = match.end()


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
