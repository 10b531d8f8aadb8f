"""The one exception type for problems a user can fix in their data or data config."""

from __future__ import annotations

import re

from gemma_jax.data import limits


class DataError(ValueError):
    """A data problem explained in plain words: which file, where, and what to change.

    `problems` keeps the individual findings so a UI can list them one by one;
    `path` is the file they were found in, when there is one. The message is cut at
    limits.LIMITS.max_error_chars, so a hostile file never makes a megabyte of error.
    """

    def __init__(self, message: str, problems: list[str] | None = None, path: str | None = None):
        message = limits.shorten(message, limits.LIMITS.max_error_chars)
        super().__init__(message)
        self.problems = list(problems) if problems else [message]
        self.path = path


MAX_LISTED_PROBLEMS = 20


def raise_problems(path: str, problems: list[str]) -> None:
    """Raise one DataError listing up to MAX_LISTED_PROBLEMS problems found in `path` (as many as fit)."""
    if not problems:
        return
    problems = sorted(problems, key=_line_of)
    if len(problems) == 1:
        raise DataError(f"Problem in {path}: {problems[0]}", problems, path)
    room = limits.LIMITS.max_error_chars - len(path) - 200
    listed: list[str] = []
    for problem in problems[:MAX_LISTED_PROBLEMS]:
        line = f"  - {problem}"
        if listed and len(line) > room:
            break
        listed.append(line)
        room -= len(line) + 1
    more = len(problems) - len(listed)
    tail = f"\n  ... and {more} more problem(s) like these." if more > 0 else ""
    joined = "\n".join(listed)
    raise DataError(f"Found {len(problems)} problems in {path}:\n{joined}{tail}", problems, path)


def _line_of(problem: str) -> int:
    """Sort key: the line a problem starts with ("line 12, ..."), so the list reads top to bottom."""
    match = re.match(r"(?:lines?|rows?) (\d+)", problem)
    return int(match.group(1)) if match else 0
