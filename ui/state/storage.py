"""The Runs page's Storage card: what each run and dataset of the workspace takes, and a month's cost on gs://.

Measuring walks folders and lists buckets (seconds on a large workspace or a slow network), so it
runs in a thread when asked; the page's refresh, on the server thread, takes the result (`poll`).
"""

from __future__ import annotations

import threading

import param

from gemma_jax.runs.storage_report import StorageReport, storage_report
from ui.state.kpis import format_bytes

COLUMNS = ("what", "name", "where", "size", "cost a month", "note")
KINDS = {"run": "run", "checkpoints": "run checkpoints", "dataset": "dataset"}


def _summary(report: StorageReport) -> str:
    cloud = (
        f" · Cloud Storage {format_bytes(report.cloud_bytes)}, ~${report.monthly_usd:,.2f}/month"
        if any(item.location != "local" for item in report.items)
        else ""
    )
    return f"Local disk {format_bytes(report.local_bytes)}{cloud}"


class StorageState(param.Parameterized):
    rows = param.List(default=[], doc="table rows (dicts of COLUMNS)")
    summary = param.String(default="", doc="totals: local bytes, Cloud Storage bytes and monthly cost")
    measuring = param.Boolean(default=False)

    def __init__(self, session, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._thread: threading.Thread | None = None
        self._result: StorageReport | Exception | None = None

    def measure(self) -> None:
        """Start measuring (once at a time); `poll` shows the result when it is there."""
        if self.measuring:
            return
        self.measuring = True
        workspace = self.session.workspace

        def run() -> None:
            try:
                self._result = storage_report(workspace.runs_dir, workspace.uploads_dir)
            except (OSError, ValueError, RuntimeError) as err:
                self._result = err

        self._thread = threading.Thread(target=run, name="gj-storage-report", daemon=True)
        self._thread.start()

    def poll(self) -> bool:
        """On the server thread: show a finished measurement; True when something changed."""
        if not self.measuring or (self._thread is not None and self._thread.is_alive()):
            return False
        result, self._result = self._result, None
        redact = self.session.confinement.redact
        if isinstance(result, StorageReport):
            self.rows = [
                {
                    "what": KINDS.get(item.kind, item.kind),
                    "name": redact(item.name),
                    "where": redact(item.location),
                    "size": format_bytes(item.size_bytes),
                    "cost a month": item.cost or ("-" if item.location == "local" else ""),
                    "note": redact(item.problem),
                }
                for item in result.items
            ]
            self.summary = _summary(result)
        else:
            self.rows = []
            self.summary = f"Storage could not be measured: {redact(str(result))}"
        self.measuring = False
        return True
