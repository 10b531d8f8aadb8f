"""The run directory as a process other than 0 of a multi-host run sees it: read, never written.

Only the primary process writes status, metrics, samples, events and the log (two writers would
interleave or overwrite them). A follower reads the config and the samples like the primary, takes
no control requests (the primary reads control.json and the processes agree on the action), and
sends its log lines to stderr, marked with its process index, where its launcher or shell shows them.
"""

from __future__ import annotations

import sys
from typing import Any

from gemma_jax.runs.run_store import RunStore, now_iso


class _NoScalars:
    def write(self, step: int, metrics, prefix: str = "") -> int:
        return 0

    def close(self) -> None:
        pass


class FollowerStore(RunStore):
    def __init__(self, store: RunStore, process_index: int):
        super().__init__(store.path)
        self.process_index = process_index

    def update_status(self, durable: bool = True, **fields: Any) -> dict[str, Any]:
        return self.read_status()

    def append_metrics(self, record: dict[str, Any]) -> None:
        pass

    def append_sample(self, record: dict[str, Any]) -> None:
        pass

    def log(self, message: str, level: str = "INFO") -> None:
        text = str(message).rstrip("\n").replace("\n", "\n    ")
        print(f"{now_iso()} {level.upper()} [process {self.process_index}] {text}", file=sys.stderr, flush=True)

    def scalar_writer(self) -> _NoScalars:
        return _NoScalars()

    def read_control(self) -> dict[str, Any] | None:
        return None

    def clear_control(self, request_id: str | None = None) -> None:
        pass
