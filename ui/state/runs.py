"""The Runs page: every run of the workspace with its state and progress, and what can be done to each.

Refreshed every ~2 s while the page is open, so it must stay cheap with long runs: a run
is summarised in full once (gemma_jax.runs.summarize_run) and then kept current from its
status.json and the new lines of metrics.jsonl only (read by offset).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import param

from gemma_jax.runs import RunStore, RunSummary, dead_run_error, is_run_dir, summarize_run
from gemma_jax.runs.run_store import RunDirError
from gemma_jax.runs.schema import LIVE_STATES, Metric, State, Status
from ui.confinement import Confinement, ConfinementError
from ui.state.run_words import end_message_words, state_words

ACTIVE_STATES = (State.QUEUED, *LIVE_STATES)
RESUMABLE_STATES = (State.FAILED, State.ABORTED)
COLUMNS = ("run", "state", "model", "method", "progress", "loss", "best eval loss", "started", "note")
DOUBLE_CLICK_S = 0.6  # two clicks on one row within this long open the run (Tabulator has no double-click event)


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(status: dict[str, Any], key: str) -> str | None:
    value = status.get(key)
    return value if isinstance(value, str) else None


def _created(status: dict[str, Any], path: Path) -> float:
    for key in (Status.CREATED, Status.STARTED):
        try:
            return datetime.fromisoformat(status[key]).timestamp()
        except (KeyError, TypeError, ValueError):
            continue
    mtime = _mtime_ns(path)
    return mtime / 1e9 if mtime is not None else 0.0


def default_run(runs_dir: Path, confinement: Confinement) -> str | None:
    """The run to show when the user named none: the running (or paused) one, else the newest.

    Reads status.json only (no metrics), so it stays cheap for a workspace of long runs; a run the
    confinement refuses (a link leading out of the workspace) is never chosen."""
    try:
        entries = [p for p in Path(runs_dir).iterdir() if not p.name.startswith(".") and p.is_dir()]
    except OSError:
        return None
    best: tuple[bool, float, str] | None = None
    for path in entries:
        try:
            confinement.run_dir(path.name)
            status = RunStore(path).read_status()
        except (ConfinementError, RunDirError, OSError):
            continue
        live = status.get(Status.STATE) in LIVE_STATES and not dead_run_error(status)
        key = (live, _created(status, path), path.name)
        best = key if best is None or key > best else best
    return best[2] if best else None


class _TrackedRun:
    """One run's summary, brought up to date from what changed since the last look."""

    def __init__(self, path: Path) -> None:
        self.store = RunStore(path)
        self._load()

    def _load(self) -> None:
        offset = _size(self.store.metrics_path)  # lines added during the full read are read twice: harmless
        self.summary, self.sort_time = summarize_run(self.store.path)
        self.metrics_offset = offset
        self.status_mtime = _mtime_ns(self.store.status_path)

    def refresh(self) -> None:
        status_mtime = _mtime_ns(self.store.status_path)
        grew = _size(self.store.metrics_path) != self.metrics_offset
        live = self.summary.state in LIVE_STATES
        if status_mtime == self.status_mtime and not grew and not live:
            return
        if self.summary.state == "unknown" or status_mtime is None:
            self._load()
            return
        try:
            status = self.store.read_status()
        except (RunDirError, OSError):
            self._load()
            return
        self.status_mtime = status_mtime
        records, self.metrics_offset = self.store.read_metrics(self.metrics_offset)
        last, best = self.summary.last_loss, self.summary.best_eval_loss
        for record in records:
            loss, eval_loss = _number(record.get(Metric.LOSS)), _number(record.get(Metric.EVAL_LOSS))
            last = loss if loss is not None else last
            if eval_loss is not None and (best is None or eval_loss < best):
                best = eval_loss
        state = _text(status, Status.STATE) or "unknown"
        error = _text(status, Status.ERROR)
        dead = dead_run_error(status)
        if dead:
            state, error = State.FAILED, dead
        step, total = status.get(Status.STEP), status.get(Status.TOTAL_STEPS)
        self.summary = dataclasses.replace(
            self.summary,
            state=state,
            step=step if isinstance(step, int) else self.summary.step,
            total_steps=total if isinstance(total, int) else self.summary.total_steps,
            last_loss=last,
            best_eval_loss=best,
            started=_text(status, Status.STARTED),
            updated=_text(status, Status.UPDATED),
            pid=status.get(Status.PID) if isinstance(status.get(Status.PID), int) else None,
            error=error,
        )


def _progress(run: RunSummary) -> str:
    if run.step is None:
        return "-"
    if run.total_steps:
        return f"{run.step}/{run.total_steps} ({100 * run.step / run.total_steps:.0f}%)"
    return str(run.step)


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def row_of(run: RunSummary, queue_position: int | None = None) -> dict[str, str]:
    """The table row of a run, as text (the view shows it as is)."""
    state = state_words(run.state) if queue_position is None else f"queued (#{queue_position})"
    return {
        "run": run.run_id,
        "state": state,
        "model": run.model_source or "-",
        "method": run.method_kind or "-",
        "progress": _progress(run),
        "loss": _loss(run.last_loss),
        "best eval loss": _loss(run.best_eval_loss),
        "started": run.started[:19].replace("T", " ") if run.started else "-",
        "note": end_message_words(run.error or "", button="Resume"),
    }


def available_actions(state: str | None) -> dict[str, bool]:
    """Which Runs page buttons are enabled for a run in `state` (None: nothing selected)."""
    return {
        "open": state is not None,
        "resume": state in RESUMABLE_STATES,
        "clone": state is not None and state != "unknown",
        "delete": state is not None and state not in ACTIVE_STATES,
    }


class RunsState(param.Parameterized):
    """The runs of the session's workspace, the selected one, and the actions on it."""

    rows = param.List(default=[], doc="table rows (dicts of COLUMNS), newest run first")
    selected = param.String(default=None, allow_None=True, doc="run_id selected in the table")
    confirm_delete = param.String(default=None, allow_None=True, doc="run_id waiting for delete confirmation")
    queue_text = param.String(default="")
    actions = param.Dict(default=available_actions(None))

    def __init__(self, session, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._tracked: dict[str, _TrackedRun] = {}
        self.summaries: dict[str, RunSummary] = {}
        self._last_click: tuple[str, float] | None = None
        self.selected = session.selected_run  # the run the URL or another page opened is selected here too

    @property
    def runs_dir(self) -> Path:
        return Path(self.session.workspace.runs_dir)

    def refresh(self) -> bool:
        """Re-read the runs; True when the table changed."""
        try:
            entries = [p for p in self.runs_dir.iterdir() if not p.name.startswith(".") and p.is_dir()]
        except OSError:
            entries = []
        seen, broken = {}, []
        for path in entries:
            if not is_run_dir(path):
                continue  # not a run
            tracked = self._tracked.get(path.name)
            try:
                if tracked is None:
                    tracked = _TrackedRun(path)
                else:
                    tracked.refresh()
            except (OSError, ValueError, TypeError, AttributeError, KeyError) as err:
                tracked = None
                broken.append(RunSummary(path.name, path, "unknown", error=f"cannot be read: {err}"))
            if tracked is not None:
                seen[path.name] = tracked
        self._tracked = seen
        ordered = sorted(seen.values(), key=lambda t: (t.sort_time, t.summary.run_id), reverse=True)
        self.summaries = {s.run_id: s for s in [*(t.summary for t in ordered), *broken]}
        queue = self._queue()
        rows = [
            row_of(summary, queue.get(summary.path.resolve()) if summary.state == State.QUEUED else None)
            for summary in self.summaries.values()
        ]
        self.queue_text = self._queue_summary(queue)
        if self.selected is not None and self.selected not in self.summaries:
            self.selected = None
        self._update_actions()
        if rows == self.rows:
            return False
        self.rows = rows
        return True

    def _queue(self) -> dict[Path, int]:
        """Queue position of each queued run (1 = next), across every workspace the runner watches."""
        runner = self.session.runner
        if runner is None:
            return {}
        return {Path(p).resolve(): i for i, p in enumerate(runner.queue(), start=1)}

    def _queue_summary(self, queue: dict[Path, int]) -> str:
        """This workspace's running and queued jobs: other users' runs are theirs (their positions
        in the shared queue still show in each queued run's state)."""
        runner = self.session.runner
        mine = self.runs_dir.resolve()
        active = (
            sum(Path(p).resolve().parent == mine for p in runner.active())
            if runner is not None
            else sum(s.state in LIVE_STATES for s in self.summaries.values())
        )
        return f"{active} running · {sum(path.parent == mine for path in queue)} queued"

    def select(self, run_id: str | None) -> None:
        self.selected = run_id
        if self.confirm_delete != run_id:
            self.confirm_delete = None
        self._update_actions()

    def _update_actions(self) -> None:
        summary = self.summaries.get(self.selected) if self.selected else None
        actions = available_actions(summary.state if summary else None)
        if actions != self.actions:
            self.actions = actions

    def _selected_path(self) -> Path | None:
        if not self.selected:
            self.session.notify("Select a run in the table first.", "warning")
            return None
        try:  # a run id names a folder of this workspace's runs, never ../elsewhere
            return self.session.confinement.run_dir(self.selected)
        except ConfinementError as err:
            self.session.notify(str(err), "error")
            return None

    def open_selected(self) -> None:
        if self._selected_path() is not None:
            self.session.open_run(self.selected, "Training")

    def click(self, run_id: str | None, now: float | None = None) -> bool:
        """A click on a run's row; the second on the same row within DOUBLE_CLICK_S opens it on Training."""
        now = time.monotonic() if now is None else now
        previous = self._last_click
        self._last_click = (run_id, now) if run_id else None
        if run_id is None or previous is None or previous[0] != run_id or now - previous[1] > DOUBLE_CLICK_S:
            return False
        self._last_click = None
        self.select(run_id)  # the second click may have toggled the row's selection off
        self.open_selected()
        return True

    def _runner_call(self, what: str, call) -> bool:
        if self.session.runner is None:
            self.session.notify(f"Cannot {what}: this dashboard has no job runner.", "error")
            return False
        try:
            call(self.session.runner)
        except (RuntimeError, ValueError, OSError) as err:  # JobError (a RuntimeError), ConfigError: user words
            self.session.notify(f"Cannot {what} {self.selected}: {err}", "error")
            return False
        return True

    def resume_selected(self) -> None:
        path = self._selected_path()
        refused = self.session.confinement.run_problems(path, training=True) if path is not None else []
        if refused:
            self.session.notify(f"Cannot resume {self.selected}: {'; '.join(refused)}", "error")
            return
        if path is not None and self._runner_call("resume", lambda r: r.resume(path)):
            self.session.notify(f"{self.selected} is queued to resume from its last checkpoint.", "success")
            self.session.audit("resume", run=self.selected)
            self.refresh()

    def clone_selected(self) -> None:
        """Open the New run wizard filled with the selected run's config."""
        path = self._selected_path()
        if path is None:
            return
        config = []
        if self._runner_call("clone", lambda r: config.append(r.clone_config(path))):
            self.session.clone_config = config[0]
            self.session.page = "New run"

    def request_delete(self) -> None:
        """First step of a delete: the view asks for confirmation."""
        if self._selected_path() is None:
            return
        if not self.actions["delete"]:
            state = self.summaries[self.selected].state
            self.session.notify(f"{self.selected} is {state}; stop it before deleting it.", "warning")
            return
        self.confirm_delete = self.selected

    def cancel_delete(self) -> None:
        self.confirm_delete = None

    def confirm(self) -> None:
        """Second step: delete the run waiting for confirmation (the runner refuses active runs)."""
        run_id, self.confirm_delete = self.confirm_delete, None
        if run_id is None:
            return
        try:
            path = self.session.confinement.run_dir(run_id)
        except ConfinementError as err:
            self.session.notify(str(err), "error")
            return
        if self._runner_call("delete", lambda r: r.delete(path)):
            self.session.notify(f"Deleted {run_id}.", "success")
            self.session.audit("delete", run=run_id)
            if self.session.selected_run == run_id:
                self.session.selected_run = None
            self.selected = None
            self.refresh()
