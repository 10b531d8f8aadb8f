"""The dashboard's audit log: who did what, when, from where (logins, starts, stops, deletes, exports).

One JSON line per event in `<workspace root>/audit.jsonl`, readable by the server's user only.
Writing it never fails an action: a full disk is reported in the server log instead.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
AUDIT_FILE = "audit.jsonl"


class AuditLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def in_workspace(cls, root: str | Path) -> AuditLog:
        return cls(Path(root) / AUDIT_FILE)

    def record(self, action: str, *, user: str | None, client: str | None = None, **detail) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "user": user, "client": client, "action": action}
        entry.update({key: value for key, value in detail.items() if value is not None})
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        try:
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode("utf-8"))
                finally:
                    os.close(fd)
        except OSError as err:
            log.error("could not write the audit log %s: %s", self.path, err)

    def entries(self) -> list[dict]:
        """Every entry (tests and admins); lines that do not parse are skipped."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out
