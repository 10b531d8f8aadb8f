"""The one error type for config problems, and the did-you-mean helper its messages use.

Config errors are collected rather than raised one at a time, so a user fixes a
file in one pass instead of re-running after every typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """One or more problems a user can fix in a config; `problems` holds every message."""

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        if self.source is None:
            return "\n".join(self.problems)
        count = len(self.problems)
        head = f"{self.source}: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self):  # keep problems and source across pickling (multiprocessing)
        return (type(self), (self.problems, self.source))


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice nearest to `word` (case-insensitive first), or None when nothing is close."""
    options = list(choices)
    normal = word.lower().replace("-", "_")
    for option in options:
        if option.lower() == normal:
            return option
    matches = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """'; did you mean 'x'?' when something is close, else ''."""
    match = closest(word, choices, cutoff)
    return f"; did you mean '{match}'?" if match else ""


def quoted(value: object, limit: int = 80) -> str:
    """`value` as a message quotes what a user typed: its repr, shortened (see `shortened`)."""
    return shortened(repr(value), limit)


def shortened(text: str, limit: int = 80) -> str:
    """`text` with the middle of a long one left out, so that a pasted page of text does not become a
    page of error."""
    if len(text) <= limit:
        return text
    keep = (limit - 5) // 2
    return f"{text[:keep]} ... {text[-keep:]}"
