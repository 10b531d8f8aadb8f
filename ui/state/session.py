"""What one browser session shares across pages: the workspace, the job runner, the selected run, messages."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import param

from gemma_jax.messages import cap_message
from gemma_jax.runs.schema import MARKER_FILES
from ui.confinement import Confinement
from ui.state.runs import default_run
from ui.workspace import Workspace

PAGES = ("Runs", "New run", "Training", "Playground", "Evaluate", "Export")
# How long a message stays in the notification area (seconds); errors stay until dismissed.
NOTICE_SECONDS = {"info": 8.0, "success": 8.0, "warning": 20.0}


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
        """Show `message` to the user (levels: info, success, warning, error), the server's paths hidden.

        The same message twice in a row is one message, brought back to the top (a failing live update
        or a repeated click must not fill the area with copies)."""
        message = self.confinement.redact(str(message))
        kept = self.notifications[-49:]
        if kept and kept[-1][1:] == (level, message):
            kept = kept[:-1]
        self.notifications = [*kept, (time.time(), level, message)]

    def open_run(self, run_id: str, page: str = "Training") -> None:
        """Show `run_id` on `page`; pages that pick a run (Playground, Evaluate, Export) follow it even
        when it already was the selected run, since their own picker may have moved since."""
        if self.selected_run == run_id:
            self.param.trigger("selected_run")
        else:
            self.selected_run = run_id
        self.page = page

    # -- the browser's URL ----------------------------------------------------------------------
    def link(self) -> dict[str, str]:
        """What the browser's URL carries so that a reload lands here again: ?run=ID&page=PAGE."""
        return {**({"run": self.selected_run} if self.selected_run else {}), "page": self.page}

    def run_problem(self, run_id: str) -> str | None:
        """Why `run_id` (from a URL: any text) cannot be opened here; None when it is a run of this workspace."""
        try:  # the same check as every other run id: a plain folder name of this workspace's runs
            path = self.confinement.run_dir(run_id)
            known = any((path / name).is_file() for name in MARKER_FILES)
        except (ValueError, OSError):  # a ConfinementError; a name too long, or with a NUL, for the file system
            known = False
        if not known:
            return (
                f"The link names run {cap_message(run_id, 100)!r}, which is not in your workspace "
                "(deleted, or never here); pick a run on the Runs page."
            )
        return None

    def default_run(self) -> str | None:
        """The run pages show when none was picked: the running (or paused) one, else the newest."""
        return default_run(self.workspace.runs_dir, self.confinement)

    def open_link(self, arguments: Mapping[str, str]) -> None:
        """Open what a link names (?run=ID&page=PAGE, from the URL of a reload or a link the CLI prints).

        Without a usable run, the running (or else the latest) run is selected, and shown on Training
        unless the link names another page; an unknown or foreign run is explained, never opened."""
        run_id, page = arguments.get("run"), arguments.get("page")
        page = page if page in PAGES else None
        if run_id:
            problem = self.run_problem(run_id)
            if problem is None:
                self.open_run(run_id, page or "Training")
                return
            self.notify(problem, "warning")
        fallback = self.default_run()
        self.selected_run = fallback
        self.page = page or ("Training" if fallback and not run_id else "Runs")

    def ensure_run(self) -> None:
        """Select the default run when none is selected (the Training page is never empty while runs exist)."""
        if self.selected_run is None:
            self.selected_run = self.default_run()


def current_notices(
    notifications: Sequence[tuple[float, str, str]], dismissed_at: float, now: float, count: int = 1
) -> list[tuple[float, str, str]]:
    """The newest `count` messages still on screen, newest first: after the last dismissal, and not yet
    timed out (NOTICE_SECONDS). The newest message, if an error, stays until dismissed; an error with a
    newer message after it times out as a warning does, so a mistake the user went on to correct does
    not come back once the later messages are gone (a lasting failure, such as live updates, says
    itself again). Equal messages show once."""
    shown: list[tuple[float, str, str]] = []
    for age, notice in enumerate(reversed(notifications)):
        when, level, _ = notice
        if when <= dismissed_at:
            break
        expires = NOTICE_SECONDS.get(level, NOTICE_SECONDS["warning"] if age else None)
        if expires is not None and now - when > expires:
            continue
        if all(other[1:] != notice[1:] for other in shown):
            shown.append(notice)
        if len(shown) >= count:
            break
    return shown


def next_expiry(notices: Sequence[tuple[float, str, str]]) -> float | None:
    """When the first of `notices` times out (None: none of them does)."""
    times = [when + NOTICE_SECONDS[level] for when, level, _ in notices if level in NOTICE_SECONDS]
    return min(times) if times else None
