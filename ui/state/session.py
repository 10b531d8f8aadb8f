"""What one browser session shares across pages: the workspace, the job runner, the selected run, messages."""

from __future__ import annotations

import time

import param

from ui.confinement import Confinement
from ui.workspace import Workspace

PAGES = ("Runs", "New run", "Training", "Playground", "Evaluate", "Export")


class Session(param.Parameterized):
    """State shared by the pages of one browser session (no Panel import: unit-testable).

    Pages read `workspace` and `runner`, and move the user along by setting `page` and
    `selected_run`. Anything that goes wrong is reported with `notify`, never swallowed.
    Every path the user names goes through `confinement` (their workspace, behind a login).
    """

    page = param.Selector(default="Runs", objects=list(PAGES))
    selected_run = param.String(default=None, allow_None=True, doc="run_id of the run the pages show")
    notifications = param.List(default=[], doc="(time, level, message) newest last")
    clone_config = param.Parameter(
        default=None, doc="a JobConfig the New run wizard starts from (set by the Runs page's clone action)"
    )

    def __init__(self, workspace: Workspace, runner=None, **params):
        super().__init__(**params)
        self.workspace = workspace
        self.confinement = Confinement.for_workspace(workspace)
        self.runner = runner  # a gemma_jax.jobs.JobRunner shared by all sessions of the server
        self.audit_log = None  # a ui.audit.AuditLog, set by the server (None in tests and notebooks)

    def audit(self, action: str, **detail) -> None:
        """Record who did `action` (start, stop, delete, export, ...) in the server's audit log."""
        if self.audit_log is not None:
            self.audit_log.record(action, user=self.workspace.user, **detail)

    def notify(self, message: str, level: str = "info") -> None:
        """Show `message` to the user (levels: info, success, warning, error), the server's paths hidden."""
        message = self.confinement.redact(str(message))
        self.notifications = [*self.notifications[-49:], (time.time(), level, message)]

    def open_run(self, run_id: str, page: str = "Training") -> None:
        self.selected_run = run_id
        self.page = page
