"""One run directory: the contract between the training process and the UI/CLI (see DESIGN.md).

The engine writes status, metrics, logs and samples; the UI and CLI read them by
offset and write only control.json. Everything is plain files, so a run survives
the dashboard restarting and can be inspected with `cat`.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import threading
import time
import unicodedata
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from gemma_jax.config.io import load_config, save_config
from gemma_jax.config.job_config import JobConfig
from gemma_jax.runs import schema
from gemma_jax.runs.control_queue import ControlQueue
from gemma_jax.runs.events import ScalarWriter
from gemma_jax.runs.files import (
    append_json_line,
    append_text,
    atomic_write_json,
    read_complete_lines,
    read_json_lines,
)
from gemma_jax.runs.liveness import process_start_time
from gemma_jax.runs.run_time import account_running_time
from gemma_jax.runs.schema import ACTIONS, STATES, STATUS_KEYS, VALUE_ACTIONS, Control, Metric, Sample, State, Status

_MAX_SUFFIX = 1000


def is_run_dir(path: Path) -> bool:
    """Whether `path` holds a status.json or a config.yaml (a run, possibly half-made or damaged)."""
    return any((path / name).exists() for name in schema.MARKER_FILES)


class RunDirError(ValueError):
    """A path that is not a usable run directory (missing, not a run, or corrupt status)."""


class RunsDirError(OSError):
    """runs_dir cannot hold a new run (no permission, read-only, full...), said in plain words: the
    OSError underneath names a temporary folder of ours, which means nothing to the user. An OSError
    still, so callers that catch OSError around RunStore.create keep working."""


# errno -> (why, what to do); anything else is os.strerror's words with the first fix
_CANNOT_WRITE_FIX = (
    "Set runs_dir to a folder you can write (e.g. runs, in the current folder), or fix that folder's permissions."
)
_NO_SPACE_FIX = "Free some space there, or set runs_dir to a folder on another disk."
_WHY_NOT_WRITABLE = {
    errno.EACCES: ("you do not have permission to write there", _CANNOT_WRITE_FIX),
    errno.EPERM: ("writing there is not permitted", _CANNOT_WRITE_FIX),
    errno.EROFS: ("it is on a read-only file system", _CANNOT_WRITE_FIX),
    errno.ENOTDIR: ("part of its path is a file, not a folder", _CANNOT_WRITE_FIX),
    errno.ENOENT: ("that folder cannot be created there", _CANNOT_WRITE_FIX),
    errno.ENOSPC: ("the disk is full", _NO_SPACE_FIX),
    errno.EDQUOT: ("your disk quota is used up", _NO_SPACE_FIX),
}


def _runs_dir_error(root: Path, err: OSError) -> RunsDirError:
    """`err` from making a run under `root`, without the temporary name it carries."""
    why, fix = _WHY_NOT_WRITABLE.get(err.errno, (None, _CANNOT_WRITE_FIX))
    if why is None:
        why = os.strerror(err.errno).lower() if err.errno else "it cannot be written"
    return RunsDirError(f"Cannot create a run in runs_dir {root}: {why}. {fix}")


def learning_rate_problem(value: Any) -> str | None:
    """Why `value` cannot be a learning rate (a positive, finite number), or None when it can."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"set_lr needs a learning rate as a number, e.g. 1e-4; got {value!r}"
    if not math.isfinite(value) or value <= 0:
        return f"set_lr needs a positive, finite learning rate, e.g. 1e-4; got {value!r}"
    return None


def now_iso() -> str:
    """Local time with its UTC offset, to the second: sortable and readable."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def safe_run_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"


def _check_run_id(run_id: str) -> None:
    """A control or format character (a line break, an escape sequence) would break `gemma-jax runs` and logs."""
    odd = any(ch in "/\\" or unicodedata.category(ch)[0] == "C" for ch in run_id)
    if not run_id or run_id.startswith(".") or odd or run_id != run_id.strip():
        raise ValueError(
            f"run_id {run_id!r} must be a plain folder name (no '/', '\\', control characters, leading '.' "
            f"or surrounding spaces); e.g. {safe_run_name(run_id)!r}"
        )


class RunStore:
    """Reads and writes one run directory; make one with RunStore.create() or RunStore.open()."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._status_lock = threading.Lock()  # engine threads (e.g. async checkpointing) share one store

    # -- creating and opening -------------------------------------------------------------
    @classmethod
    def create(cls, cfg: JobConfig, run_id: str | None = None) -> RunStore:
        """A new run directory under cfg.runs_dir, complete before it appears; never overwrites a run.

        Without run_id the name is `<cfg.name>-YYYYmmdd-HHMMSS`, with -2, -3... added when taken.
        A given run_id that already exists raises FileExistsError.
        """
        if run_id is not None:
            _check_run_id(run_id)
        root = Path(cfg.runs_dir)
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(f"runs_dir {root} is a file; set runs_dir to a folder")
        base = run_id or f"{safe_run_name(cfg.name)}-{time.strftime('%Y%m%d-%H%M%S')}"
        tmp = root / f"{schema.CREATING_PREFIX}{uuid.uuid4().hex}"
        try:
            root.mkdir(parents=True, exist_ok=True)
            # Permissions follow the umask, as for any folder: 0755 from a shell (a dashboard run as another
            # account can read it), 0700 with files 0600 under the dashboard's umask 077 (private to its users).
            tmp.mkdir()
        except OSError as err:
            raise _runs_dir_error(root, err) from None
        try:
            try:
                cls._populate(tmp, cfg)
            except OSError as err:
                raise _runs_dir_error(root, err) from None
            names = [base] if run_id else [base, *(f"{base}-{i}" for i in range(2, _MAX_SUFFIX))]
            for name in names:
                final = root / name
                if final.exists() or final.is_symlink():
                    continue
                try:
                    os.rename(tmp, final)  # atomic: readers never see a half-made run
                except OSError as err:
                    if final.exists():
                        continue  # another process took the name between the check and the rename
                    raise _runs_dir_error(root, err) from None
                return cls(final)
            if run_id:
                raise FileExistsError(
                    f"run directory {root / base} already exists; choose another "
                    "run_id, or leave it out to get a new one"
                )
            raise FileExistsError(f"could not find a free run directory name for {base!r} in {root}")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _populate(path: Path, cfg: JobConfig) -> None:
        save_config(cfg, path / schema.CONFIG_FILE)
        for name in schema.CREATED_FILES:
            if name not in (schema.CONFIG_FILE, schema.STATUS_FILE):
                (path / name).touch()
        for name in schema.CREATED_DIRS:
            (path / name).mkdir()
        stamp = now_iso()
        atomic_write_json(
            path / schema.STATUS_FILE,
            {
                Status.STATE: State.QUEUED,
                Status.PID: None,
                Status.STEP: 0,
                Status.TOTAL_STEPS: None,
                Status.STARTED: None,
                Status.UPDATED: stamp,
                Status.ERROR: None,
                Status.CREATED: stamp,
            },
        )

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunStore:
        """An existing run directory; RunDirError saying what is wrong when it is not one."""
        path = Path(path)
        if not path.exists():
            raise RunDirError(f"{path}: no such run directory; `gemma-jax runs` lists the runs")
        if not path.is_dir():
            raise RunDirError(f"{path}: is a file, not a run directory")
        if not is_run_dir(path):
            raise RunDirError(f"{path}: not a run directory (it has no {' or '.join(schema.MARKER_FILES)})")
        return cls(path)

    # -- paths ----------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def run_id(self) -> str:
        return self._path.name

    @property
    def config_path(self) -> Path:
        return self._path / schema.CONFIG_FILE

    @property
    def status_path(self) -> Path:
        return self._path / schema.STATUS_FILE

    @property
    def metrics_path(self) -> Path:
        return self._path / schema.METRICS_FILE

    @property
    def log_path(self) -> Path:
        return self._path / schema.LOG_FILE

    @property
    def samples_path(self) -> Path:
        return self._path / schema.SAMPLES_FILE

    @property
    def control_path(self) -> Path:
        return self._path / schema.CONTROL_FILE

    @property
    def tokenizer_path(self) -> Path:
        """The vocabulary trained for a tiny:/random: model (absent for other models)."""
        return self._path / schema.TOKENIZER_FILE

    @property
    def process_log_path(self) -> Path:
        return self._path / schema.PROCESS_LOG_FILE

    @property
    def events_dir(self) -> Path:
        """TensorBoard scalars (not the event records of metrics.jsonl)."""
        return self._path / schema.TENSORBOARD_DIR

    @property
    def checkpoints_dir(self) -> Path:
        return self._path / schema.CHECKPOINTS_DIR

    @property
    def eval_dir(self) -> Path:
        return self._path / schema.EVAL_DIR

    @property
    def export_dir(self) -> Path:
        return self._path / schema.EXPORT_DIR

    def eval_report_dir(self, step: int, split: str) -> Path:
        """eval/step-<N>-<split>/: one evaluation's report, predictions and attention maps."""
        return self.eval_dir / schema.eval_folder_name(step, split)

    def export_format_dir(self, step: int, kind: str) -> Path:
        """export/step-<N>-<kind>/: one export format's files."""
        return self.export_dir / schema.export_folder_name(step, kind)

    def __repr__(self) -> str:
        return f"RunStore({str(self._path)!r})"

    def config(self) -> JobConfig:
        """The config as submitted (ConfigError if config.yaml was damaged)."""
        return load_config(self.config_path)

    # -- status ---------------------------------------------------------------------------
    def read_status(self) -> dict[str, Any]:
        try:
            text = self.status_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RunDirError(f"{self.status_path}: missing; the run directory is incomplete") from None
        try:
            status = json.loads(text)
        except ValueError as err:
            raise RunDirError(f"{self.status_path}: not valid JSON ({err})") from None
        if not isinstance(status, dict):
            raise RunDirError(f"{self.status_path}: expected a JSON object, got {type(status).__name__}")
        return status

    def update_status(self, durable: bool = True, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into status.json atomically, stamp `updated`, and return the new status.

        durable=False skips the fsync (atomic_writer): for the per-step progress, so a fast
        accelerator step does not wait on the disk; state changes stay durable.

        Entering "running" stamps `started` once; giving `pid` records its start time as
        `pid_started` so readers can tell a dead run from a reused pid; `run_seconds` and
        `running_since` keep the time spent running (runs/run_time.py). One writer (the
        engine) is assumed. Every key must be one the schema names (Status), so readers and
        writers cannot drift apart.
        """
        unknown = sorted(set(fields) - set(STATUS_KEYS))
        if unknown:
            raise ValueError(f"status.json has no key {', '.join(unknown)}; add it to gemma_jax/runs/schema.py Status")
        state = fields.get(Status.STATE)
        if state is not None and state not in STATES:
            raise ValueError(f"unknown run state {state!r}; use one of {', '.join(STATES)}")
        with self._status_lock:
            try:
                status = self.read_status()
            except RunDirError:
                status = {}  # a damaged status is replaced rather than blocking the run
            before = dict(status)
            status.update(fields)
            stamp = now_iso()
            account_running_time(before, status, stamp)
            if state == State.RUNNING and not status.get(Status.STARTED):
                status[Status.STARTED] = stamp
            if isinstance(fields.get(Status.PID), int) and Status.PID_STARTED not in fields:
                status[Status.PID_STARTED] = process_start_time(fields[Status.PID])
            status[Status.UPDATED] = stamp
            atomic_write_json(self.status_path, status, durable)
            return status

    # -- metrics, samples, log ------------------------------------------------------------
    def append_metrics(self, record: dict[str, Any]) -> None:
        """One JSON object per line, written at once; NaN/inf become null; `time` is added if absent."""
        append_json_line(self.metrics_path, {**record, Metric.TIME: record.get(Metric.TIME, round(time.time(), 3))})

    def read_metrics(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Metric records after byte `offset` and the offset to pass next time (tail -f by offset)."""
        return read_json_lines(self.metrics_path, offset)

    def append_sample(self, record: dict[str, Any]) -> None:
        append_json_line(self.samples_path, {**record, Sample.TIME: record.get(Sample.TIME, round(time.time(), 3))})

    def read_samples(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        return read_json_lines(self.samples_path, offset)

    def log(self, message: str, level: str = "INFO") -> None:
        """Append `<time> <LEVEL> message` to log.txt; later lines of a multi-line message are indented."""
        text = str(message).rstrip("\n").replace("\n", "\n    ")
        append_text(self.log_path, f"{now_iso()} {level.upper()} {text}")

    def read_log(self, offset: int = 0) -> tuple[str, int]:
        """Complete log lines after byte `offset`, and the next offset."""
        lines, new_offset = read_complete_lines(self.log_path, offset)
        return "".join(line.decode("utf-8", "replace") + "\n" for line in lines), new_offset

    def scalar_writer(self) -> ScalarWriter:
        return ScalarWriter(self.events_dir)

    # -- control requests -----------------------------------------------------------------
    def request(self, action: str, value: float | None = None) -> dict[str, Any]:
        """Ask the engine to pause/resume/save/abort, or set_lr with `value` (the new peak learning
        rate); requests wait their turn behind unhandled ones (control_queue.py)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
        req: dict[str, Any] = {Control.ACTION: action, Control.ID: uuid.uuid4().hex[:12], Control.TIME: now_iso()}
        if action in VALUE_ACTIONS:
            problem = learning_rate_problem(value)
            if problem:
                raise ValueError(problem)
            req[Control.VALUE] = float(value)
        elif value is not None:
            raise ValueError(f"{action} takes no value (got {value!r})")
        ControlQueue(self.control_path).add(req)
        return req

    def pending_controls(self) -> list[dict[str, Any]]:
        """Every request the engine has not taken yet, oldest first."""
        return ControlQueue(self.control_path).pending()

    def read_control(self) -> dict[str, Any] | None:
        """The oldest pending request, or None."""
        return next(iter(self.pending_controls()), None)

    def clear_control(self, request_id: str | None = None) -> None:
        """Take request `request_id` off the queue (newer ones stay); None: every pending request."""
        ControlQueue(self.control_path).remove(request_id)
