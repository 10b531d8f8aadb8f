"""The tail of a run's logs (log.txt from the engine, process.log from the spawned process), read by offset.

Only new bytes are read on each poll, the last `max_lines` lines are kept, and lines that
signal trouble (ERROR, CRITICAL, Traceback) are counted so the page can flag them.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

from gemma_jax.runs.files import read_complete_lines
from gemma_jax.runs.schema import LOG_FILE, PROCESS_LOG_FILE

LOG_FILES = (LOG_FILE, PROCESS_LOG_FILE)
_ERROR = re.compile(r"\b(ERROR|CRITICAL|FATAL)\b|Traceback \(most recent call last\)")


def is_error_line(line: str) -> bool:
    return bool(_ERROR.search(line))


class LogTail:
    """The last lines of one log file and how many error lines it has had."""

    def __init__(self, path: Path, max_lines: int = 400) -> None:
        self.path = path
        self.offset = 0
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.errors = 0

    def poll(self) -> bool:
        """Read what was appended since the last poll; True when there were new lines."""
        raw, offset = read_complete_lines(self.path, self.offset)
        if offset < self.offset:  # the file was replaced: start over
            self.lines.clear()
            self.errors = 0
        self.offset = offset
        if not raw:
            return False
        for data in raw:
            line = data.decode("utf-8", "replace").rstrip("\r")
            self.errors += is_error_line(line)
            self.lines.append(line)
        return True

    def text(self) -> str:
        return "\n".join(self.lines)


class RunLogs:
    """The run's log files, tailed together."""

    def __init__(self, run_dir: Path, max_lines: int = 400) -> None:
        self.tails = {name: LogTail(Path(run_dir) / name, max_lines) for name in LOG_FILES}

    def poll(self) -> bool:
        changed = [tail.poll() for tail in self.tails.values()]
        return any(changed)

    @property
    def errors(self) -> int:
        return sum(tail.errors for tail in self.tails.values())
