"""The one exception type for problems a user can fix in their data or data config."""

from __future__ import annotations

import re


class DataError(ValueError):
    """A data problem explained in plain words: which file, where, and what to change.

    `problems` keeps the individual findings so a UI can list them one by one;
    `path` is the file they were found in, when there is one.
    """

    def __init__(self, message: str, problems: list[str] | None = None, path: str | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [message]
        self.path = path


MAX_LISTED_PROBLEMS = 20


def raise_problems(path: str, problems: list[str]) -> None:
    """Raise one DataError listing up to MAX_LISTED_PROBLEMS problems found in `path`."""
    if not problems:
        return
    problems = sorted(problems, key=_line_of)
    if len(problems) == 1:
        raise DataError(f"Problem in {path}: {problems[0]}", problems, path)
    listed = "\n".join(f"  - {p}" for p in problems[:MAX_LISTED_PROBLEMS])
    more = len(problems) - MAX_LISTED_PROBLEMS
    tail = f"\n  ... and {more} more problem(s) like these." if more > 0 else ""
    raise DataError(f"Found {len(problems)} problems in {path}:\n{listed}{tail}", problems, path)


def _line_of(problem: str) -> int:
    """Sort key: the line a problem starts with ("line 12, ..."), so the list reads top to bottom."""
    match = re.match(r"(?:lines?|rows?) (\d+)", problem)
    return int(match.group(1)) if match else 0
