"""What one browser session shares across pages: the workspace, the job runner, the selected run, messages."""

from __future__ import annotations

import time

import param

from ui.workspace import Workspace

PAGES = ("Runs", "New run", "Training", "Playground", "Evaluate", "Export")


class Session(param.Parameterized):
    """State shared by the pages of one browser session (no Panel import: unit-testable).

    Pages read `workspace` and `runner`, and move the user along by setting `page` and
    `selected_run`. Anything that goes wrong is reported with `notify`, never swallowed.
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
        self.runner = runner  # a gemma_jax.jobs.JobRunner shared by all sessions of the server

    def notify(self, message: str, level: str = "info") -> None:
        """Show `message` to the user (levels: info, success, warning, error)."""
        self.notifications = [*self.notifications[-49:], (time.time(), level, str(message))]

    def open_run(self, run_id: str, page: str = "Training") -> None:
        self.selected_run = run_id
        self.page = page
