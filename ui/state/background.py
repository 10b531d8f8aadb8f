"""A command-line job of the dashboard (evaluate, export) run as a subprocess, its output collected.

A thread reads the output into `lines`; the page's periodic callback reads them on
the server thread, so no state is touched from another thread.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

_KEPT_LINES = 200


class BackgroundCommand:
    """`python -m <module> <args>` in its own process group; `done`, `returncode`, `lines` while and after."""

    def __init__(self, module: str, args: Sequence[str], *, env: Mapping[str, str] | None = None, python=None):
        self.command = [python or sys.executable, "-m", module, *map(str, args)]
        self.lines: collections.deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self.returncode: int | None = None
        self._process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=dict(os.environ if env is None else env),
            start_new_session=True,
        )
        self._thread = threading.Thread(target=self._read, name=f"gj-{module}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._process.stdout:
            if line.strip():
                self.lines.append(line.rstrip())
        self.returncode = self._process.wait()

    @property
    def done(self) -> bool:
        return self.returncode is not None

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        return self.returncode

    def last_line(self) -> str:
        return self.lines[-1] if self.lines else ""

    def error_message(self) -> str:
        """What went wrong, for the user: the command's own error line, else the end of its output."""
        errors = [line for line in self.lines if line.startswith(("evaluate:", "export:"))]
        if errors:
            return errors[-1].split(":", 1)[1].strip()
        tail = "\n".join(list(self.lines)[-8:])
        return f"the process exited with code {self.returncode}" + (f":\n{tail}" if tail else "")

    def cancel(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
