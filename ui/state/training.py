"""The Training page's state: one run followed live by offset, its figures, logs, samples and controls.

`poll()` is called by a per-session periodic callback (~1 s) while the page is open. It
reads only what the training process appended since the last call (status.json is a few
hundred bytes; metrics, logs and samples are tailed by byte offset), so an open page does
not slow training down. Plot data comes back as SeriesUpdates the view applies as is.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import param

from gemma_jax.config.errors import quoted
from gemma_jax.runs import RunStore, dead_run_error
from gemma_jax.runs.run_store import RunDirError
from gemma_jax.runs.schema import LIVE_STATES, Metric, State, Status
from ui.confinement import ConfinementError
from ui.state.kpis import KpiTracker
from ui.state.run_logs import RunLogs
from ui.state.samples import SamplesTail
from ui.state.series import Series, SeriesUpdate
from ui.state.system import SystemUsage

TRAIN_COLUMNS = (Metric.STEP, Metric.LOSS, Metric.LR, Metric.TOKENS_PER_S, Metric.GRAD_NORM, Metric.DEVICE_MEMORY_GB)
EVAL_COLUMNS = (Metric.STEP, Metric.EVAL_LOSS)
STOP_GRACE_S = 600.0  # "stop early": the engine saves and exits; forced only if it hangs this long
ABORT_GRACE_S = 20.0  # "abort": the same request, forced after a short wait
STORAGE_EVERY_S = 15.0  # and at every state change (e.g. the final checkpoint)
CLOCK_EVERY_S = 10.0  # elapsed/ETA alone refresh the figures this often: each repaint is CPU taken from training
CLOCK_KPIS = ("elapsed_s", "eta_s")
ENDINGS = {
    State.COMPLETED: ("success", "{run} completed at step {step}."),
    State.FAILED: ("error", "{run} failed: {error}"),
    State.ABORTED: ("warning", "{run} stopped at step {step}."),
}


NEXT_STEPS = ("Playground", "Evaluate", "Export")  # pages a finished run goes on to, with that run picked


def available_actions(state: str | None, checkpoint: bool = False) -> dict[str, bool]:
    """Which controls the page enables for a run in `state`; `next` (Playground, Evaluate, Export) once
    it has ended with a `checkpoint` those pages can load."""
    live = state in LIVE_STATES
    return {
        "pause": state == State.RUNNING,
        "unpause": state == State.PAUSED,
        "save": live,
        "stop": live,
        "abort": live or state == State.QUEUED,
        "resume": state in (State.FAILED, State.ABORTED),
        "set_lr": live,
        "next": checkpoint and state in ENDINGS,
    }


class TrainingState(param.Parameterized):
    """The selected run as the Training page shows it."""

    run_id = param.String(default=None, allow_None=True)
    status = param.Dict(default={})
    kpis = param.Dict(default={})
    actions = param.Dict(default=available_actions(None))
    storage_bytes = param.Integer(default=None, allow_None=True)
    pending = param.List(default=[], doc="actions of control requests the live run has not taken yet")
    log_version = param.Integer(default=0, doc="bumped when new log lines arrived")
    samples_version = param.Integer(default=0, doc="bumped when new samples arrived")

    def __init__(self, session, max_points: int = 2000, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.max_points = max_points
        self.system = SystemUsage(disk_paths=[session.workspace.root])
        self._reset(None)

    # -- following a run ------------------------------------------------------------------
    def _reset(self, run_id: str | None) -> None:
        self.run_id = run_id
        self.pending = []
        try:  # a run id that would leave the workspace's runs folder shows nothing
            self.store = RunStore(self.session.confinement.run_dir(run_id)) if run_id else None
        except ConfinementError as err:
            self.session.notify(str(err), "error")
            self.store = None
        self.train = Series(TRAIN_COLUMNS, self.max_points)
        self.eval = Series(EVAL_COLUMNS, self.max_points)
        self.tracker = KpiTracker()
        self.logs = RunLogs(self.store.path) if self.store else None
        self.samples = SamplesTail(self.store.path) if self.store else None
        self.metrics_offset = 0
        self.last_step = -1
        self._status_mtime: int | None = None
        self._last_state: str | None = None
        self._storage_at = 0.0
        self._storage_thread: threading.Thread | None = None
        self.storage_error: str | None = None
        self.status, self.kpis, self.storage_bytes = {}, {}, None
        self.storage_note = ""  # the monthly cost of gs:// checkpoints
        self._steady_kpis, self._kpis_at = None, 0.0
        self.actions = available_actions(None)

    @property
    def run_path(self) -> Path | None:
        return self.store.path if self.store else None

    def poll(self, now: float | None = None) -> dict[str, SeriesUpdate]:
        """Bring everything up to date; the plot updates to apply, by plot name ("train", "eval", "system")."""
        now = time.time() if now is None else now
        updates: dict[str, SeriesUpdate] = {}
        if self.session.selected_run != self.run_id:
            self._reset(self.session.selected_run)
            updates = {"train": self.train.snapshot(), "eval": self.eval.snapshot()}
        system = self.system.poll(now)
        if system is not None:
            updates["system"] = system
        if self.store is None:
            return updates
        self._poll_status()
        self._poll_metrics(updates)
        if self.logs.poll():
            self.log_version += 1
        if self.samples.poll():
            self.samples_version += 1
        self._poll_storage(now)
        self._update_kpis(now)
        return updates

    def _update_kpis(self, now: float) -> None:
        """New figures when a step, loss, state... changed; the running clock only every CLOCK_EVERY_S."""
        kpis = self.tracker.summary(self.status, now)
        steady = {key: value for key, value in kpis.items() if key not in CLOCK_KPIS}
        if steady != self._steady_kpis or now - self._kpis_at >= CLOCK_EVERY_S:
            self.kpis, self._steady_kpis, self._kpis_at = kpis, steady, now

    def _poll_status(self) -> None:
        try:
            mtime = self.store.status_path.stat().st_mtime_ns
        except OSError:
            mtime = None
        state = self.status.get(Status.STATE)
        if mtime != self._status_mtime or state in LIVE_STATES:  # live runs: check the process
            self._status_mtime = mtime
            try:
                status = self.store.read_status()
            except (RunDirError, OSError) as err:
                status = {Status.STATE: "unknown", Status.ERROR: str(err)}
            dead = dead_run_error(status)
            if dead:
                status = {**status, Status.STATE: State.FAILED, Status.ERROR: dead}
            if status != self.status:
                self.status = status
        state = self.status.get(Status.STATE)
        pending = [str(r.get("action")) for r in self.store.pending_controls()] if state in LIVE_STATES else []
        if pending != self.pending:
            self.pending = pending
        if state != self._last_state:
            if self._last_state in (State.QUEUED, *LIVE_STATES) and state in ENDINGS:
                level, text = ENDINGS[state]
                error = self.status.get(Status.ERROR) or "see the log below"
                self.session.notify(text.format(run=self.run_id, step=self.status.get(Status.STEP), error=error), level)
            self._last_state = state
            self._storage_at = 0.0
        actions = available_actions(state, isinstance(self.status.get(Status.LAST_CHECKPOINT_STEP), int))
        if actions != self.actions:
            self.actions = actions

    def _poll_metrics(self, updates: dict[str, SeriesUpdate]) -> None:
        records, self.metrics_offset = self.store.read_metrics(self.metrics_offset)
        train, evals = [], []
        for record in records:
            self.tracker.add(record)
            step = record.get(Metric.STEP)
            if not isinstance(step, int):
                continue
            if Metric.LOSS in record and step > self.last_step:  # steps replayed after a resume are not drawn twice
                self.last_step = step
                train.append(record)
            if record.get(Metric.EVAL_LOSS) is not None:
                evals.append(record)
        for name, series, rows in (("train", self.train, train), ("eval", self.eval, evals)):
            update = series.add(rows) if rows else None
            if update is not None:  # after a reset the plot is replaced with everything read so far
                updates[name] = update if name not in updates else series.snapshot()

    def _poll_storage(self, now: float) -> None:
        """Checkpoint storage used, measured in a thread now and then (gs:// listings can take seconds)."""
        if now - self._storage_at < STORAGE_EVERY_S or (self._storage_thread and self._storage_thread.is_alive()):
            return
        from gemma_jax.runs import storage_bytes

        self._storage_at = now

        def measure() -> None:
            try:
                directory = self._checkpoint_dir()
                size = int(storage_bytes(directory))
                self.storage_note = self._storage_cost(directory, size)
                self.storage_bytes, self.storage_error = size, None
            except (OSError, ValueError, RuntimeError) as err:  # e.g. no access to the bucket
                self.storage_error = f"checkpoint storage unknown: {err}"

        self._storage_thread = threading.Thread(target=measure, name="gj-storage", daemon=True)
        self._storage_thread.start()

    def _storage_cost(self, directory: str, size: int) -> str:
        """The monthly cost of checkpoints on gs:// (the run's storage class or price); "" for a local disk."""
        if not directory.startswith("gs://"):
            return ""
        from gemma_jax.storage_cost import cost_note

        try:
            checkpoint = self.store.config().checkpoint
            return cost_note(size, checkpoint.storage_class, checkpoint.price_per_gib_month)
        except (OSError, ValueError, KeyError):  # a damaged config or an unknown class: list price
            return cost_note(size)

    def _checkpoint_dir(self) -> str:
        """The run's checkpoint folder; the run's own when its config names one this user may not read."""
        try:
            directory = self.store.config().checkpoint.directory
            directory = self.session.confinement.checkpoint_dir(directory) if directory else None
        except (OSError, ValueError):  # a damaged config (or a ConfinementError): the default location
            directory = None
        return directory or str(self.store.checkpoints_dir)

    # -- controls -------------------------------------------------------------------------
    def _control(self, action: str, done: str, call) -> bool:
        if self.store is None:
            self.session.notify("No run selected: open one from the Runs page.", "warning")
            return False
        if not self.actions.get(action):
            state = self.status.get(Status.STATE, "unknown")
            self.session.notify(f"Cannot {action.replace('_', ' ')} {self.run_id}: it is {state}.", "warning")
            return False
        if self.session.runner is None:
            self.session.notify("This dashboard has no job runner; use `gemma-jax control`.", "error")
            return False
        try:
            call(self.session.runner, self.store.path)
        except (RuntimeError, ValueError, OSError) as err:  # JobError (a RuntimeError), ConfigError: user words
            self.session.notify(f"{self.run_id}: {err}", "error")
            return False
        self.session.notify(done.format(run=self.run_id), "info")
        self.session.audit(action, run=self.run_id)
        return True

    def pause(self) -> bool:
        return self._control("pause", "Pause requested for {run}.", lambda r, p: r.pause(p))

    def unpause(self) -> bool:
        return self._control("unpause", "Resuming {run}.", lambda r, p: r.unpause(p))

    def save_now(self) -> bool:
        return self._control("save", "Checkpoint requested for {run}.", lambda r, p: r.save_now(p))

    def stop_early(self) -> bool:
        """Graceful: the run saves a checkpoint and ends as "aborted" (resumable)."""
        return self._control("stop", "Stopping {run} after a checkpoint.", lambda r, p: r.stop(p, grace_s=STOP_GRACE_S))

    def abort(self) -> bool:
        """Graceful first, forced after ABORT_GRACE_S seconds."""
        message = "Aborting {run}" + f" (forced after {ABORT_GRACE_S:.0f} s if it does not stop)."
        return self._control("abort", message, lambda r, p: r.stop(p, grace_s=ABORT_GRACE_S))

    def resume(self) -> bool:
        refused = self.session.confinement.run_problems(self.store.path, training=True) if self.store else []
        if refused:
            self.session.notify(f"Cannot resume {self.run_id}: {'; '.join(refused)}", "error")
            return False
        return self._control("resume", "{run} is queued to resume from its last checkpoint.", lambda r, p: r.resume(p))

    def go_on(self, page: str) -> None:
        """A next step for the finished run: open it on Playground, Evaluate or Export (their run pickers
        follow session.selected_run)."""
        if self.run_id is not None and page in NEXT_STEPS:
            self.session.open_run(self.run_id, page)

    def set_learning_rate(self, value: Any) -> bool:
        try:
            rate = float(value)
        except (TypeError, ValueError):
            rate = float("nan")
        if not (rate > 0 and rate < 1):
            self.session.notify(
                f"Learning rate {quoted(value)} is not usable: give a number between 0 and 1, e.g. 1e-4.", "error"
            )
            return False
        return self._control(
            "set_lr",
            f"Learning rate {rate:g} requested for {{run}}: it applies from the run's next step.",
            lambda r, p: r.set_learning_rate(p, rate),
        )
