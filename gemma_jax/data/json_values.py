"""What the JSON readers (whole and streamed) share: depth-checked parsing and the record layouts.

Python's json recurses once per nesting level; a line of 100,000 "[" would raise RecursionError,
and a value nested 900 deep would parse but break later code that walks it. Values nested deeper
than limits.LIMITS.max_json_depth are refused with a message instead.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Collection, Iterator

from gemma_jax.data import limits
from gemma_jax.data.record_source import Record, RecordSource

DEPTH_FIX = (
    "Training data needs one object per example holding text (chat messages are 3 levels deep); "
    "flatten the nested values or remove them."
)


class TooDeep(Exception):
    """A JSON value nested deeper than max_json_depth."""


class LongNumber(json.JSONDecodeError):
    """A number with more digits than Python converts (json raises a bare ValueError for it)."""


def depth_message(what: str = "this JSON value") -> str:
    return limits.over_limit("max_json_depth", f"{what} is nested too deeply", DEPTH_FIX)


def loads(text: str) -> object:
    """json.loads that raises TooDeep for values nested deeper than max_json_depth, and
    JSONDecodeError (not a bare ValueError) for a number Python will not convert."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        raise _long_number(text, 0) from None
    check_depth(value, text)
    return value


def raw_decode(decoder: json.JSONDecoder, text: str, idx: int) -> tuple[object, int]:
    """decoder.raw_decode(text, idx) that raises TooDeep and JSONDecodeError like `loads`."""
    try:
        value, end = decoder.raw_decode(text, idx)
    except RecursionError:
        raise TooDeep from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        raise _long_number(text, idx) from None
    check_depth(value, text, idx, end)
    return value, end


def _long_number(text: str, start: int) -> LongNumber:
    """Python refuses integers of more than sys.get_int_max_str_digits() digits: say where the number is."""
    digits = sys.get_int_max_str_digits()
    found = re.compile(rf"\d{{{digits + 1},}}").search(text, start)
    return LongNumber(f"a number has more than {digits:,} digits", text, found.start() if found else start)


def check_depth(value: object, text: str, start: int = 0, end: int | None = None) -> None:
    """Raise TooDeep when `value` (parsed from text[start:end]) nests deeper than max_json_depth.

    Only text with more brackets than the cap can be that deep, so most values are never walked.
    """
    cap = limits.LIMITS.max_json_depth
    end = len(text) if end is None else end
    if not isinstance(value, (dict, list)) or text.count("[", start, end) + text.count("{", start, end) <= cap:
        return
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > cap:
            raise TooDeep
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))  # type: ignore[union-attr]


def json_kind(value: object) -> str:
    names = {list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def dict_rows(items: Iterator[tuple[int, object]], src: RecordSource) -> Iterator[Record]:
    """Records of an array of objects; the first element that is not an object ends it with a problem."""
    for number, value in items:
        if not isinstance(value, dict):
            src.problem(number, f"expected a JSON object but found {json_kind(value)}; put one object per example.")
            return
        yield number, value


def equal_columns(lengths: dict[str, int], src: RecordSource) -> bool:
    """A JSON object of columns: rows are numbered from here on; a problem for each short column."""
    src.unit, src.columns = "row", list(lengths)
    most = max(lengths.values())
    for key, n in lengths.items():
        if n != most:
            src.problem(
                None,
                f"column {limits.shorten(key, 60)!r} has {n} values but others have {most}; in a JSON object of "
                "columns every column needs one value per example.",
                code="columns",
            )
    return all(n == most for n in lengths.values())


def too_many_columns(names: Collection[str], src: RecordSource) -> bool:
    """A problem (and True) when a top-level JSON object has more than max_columns keys."""
    if len(names) <= limits.LIMITS.max_columns:
        return False
    what = f"the JSON object has {len(names):,} keys ({limits.names_text(names, 5)})"
    src.problem(None, limits.over_limit("max_columns", what, limits.FEWER_COLUMNS_FIX), code="limit")
    return True
