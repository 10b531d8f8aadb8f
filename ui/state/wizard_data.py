"""Step 1 of the New-run wizard: where the examples come from, which columns mean what, and their report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import param

from gemma_jax.config.job_config import JobConfig
from gemma_jax.data.readers import EXAMPLE_DATASET
from ui.confinement import Confinement, ConfinementError
from ui.state.data_check import DataCheck, check_data
from ui.workspace import UploadError, UploadWriter

if TYPE_CHECKING:
    from ui.state.new_run import NewRunState

# Column roles the user can map, and the DataConfig field each one sets.
COLUMN_ROLES = {
    "prompt": "data.prompt_column",
    "response": "data.response_column",
    "messages": "data.messages_column",
    "text": "data.text_column",
    "label": "data.label_column",
    "chosen": "data.chosen_column",
    "rejected": "data.rejected_column",
    "system": "data.system_column",
}
# The roles each data shape reads (the mapping shows these once the shape is known).
SHAPE_ROLES = {
    "prompt_response": ("prompt", "response", "system"),
    "chat": ("messages", "system"),
    "text": ("text",),
    "classification": ("text", "label"),
    "preference": ("prompt", "chosen", "rejected", "system"),
}
REMOTE_PREFIXES = ("hf:", "tfds:", "gs://")
# What the Data step shows at once, and what waits behind "Advanced" (cleaning, augmentation, split, reading).
BASIC_FIELDS = ("data.shape", "data.sequence_length", "data.loss_on", "data.validation_fraction")
ADVANCED_FIELDS = (
    "data.clean_html",
    "data.unicode_form",
    "data.drop_control_chars",
    "data.normalize_whitespace",
    "data.augment.methods",
    "data.augment.copies",
    "data.test_fraction",
    "data.split_by",
    "data.seed",
    "data.truncation",
    "data.packing",
    "data.shuffle",
    "data.allow_special_tokens",
    "data.infer_columns",
    "data.format",
)


def source_problem(source: str, confinement: Confinement | None = None) -> str:
    """Why a typed-in data source cannot be used, in words ('' when it can).

    Where it lies is `Confinement.data_source`'s question; this one is whether it exists, said with
    the path as the user may see it (relative to a logged-in user's workspace).
    """
    if not source:
        return "type a data source: a file path on the server, hf:NAME, tfds:NAME, gs://bucket/file or 'example'"
    if source == EXAMPLE_DATASET or source.startswith(REMOTE_PREFIXES):
        return ""
    if not Path(source).expanduser().exists():
        shown = confinement.shown(source) if confinement is not None else source
        return (
            f"{shown} does not exist on the server; upload the file instead, or give a path that exists there "
            "(or hf:NAME, tfds:NAME, gs://bucket/file, 'example')"
        )
    return ""


class DataStep(param.Parameterized):
    """The Data step: the source, the column mapping and the validation report of the current config.

    The report is computed by `compute()` (pure, safe in a worker thread) and shown by
    `apply()`; `run_check()` does both for tests and small files.
    """

    error = param.String(default="", doc="the last thing that went wrong, with what to do")
    checking = param.Boolean(default=False, doc="a check is running (the view shows 'checking…')")
    result = param.ClassSelector(class_=DataCheck, default=None, allow_None=True)

    def __init__(self, owner: NewRunState, **params):
        super().__init__(**params)
        self.owner = owner
        self.choices = 0  # counts sources typed or uploaded: a check started before the latest one is stale

    @property
    def source(self) -> str:
        return self.owner.config.data.train_path

    def use_source(self, source: str) -> bool:
        """Train on `source` (typed in); False, with `error` set, when it cannot be used: missing, or
        outside a logged-in user's workspace (then nothing of it is read, so nothing of it is shown)."""
        self.choices += 1
        confinement = self.owner.session.confinement
        try:
            source = confinement.data_source(source, self.owner.config.data) if source.strip() else ""
        except ConfinementError as err:
            self.error = str(err)
            return False
        problem = source_problem(source, confinement)
        self.error = problem
        if problem:
            return False
        self.owner.set("data.train_path", source)
        self.result = None
        return True

    def upload(self, name: str, data: bytes | UploadWriter) -> Path | None:
        """Save an uploaded file into the workspace and train on it; None (and `error`) when refused.

        `data` is the whole file, or the writer the page streamed it into chunk by chunk (then a refusal,
        e.g. over the size limit, arrives here as soon as it happened)."""
        self.choices += 1
        try:
            if isinstance(data, UploadWriter):
                path = data.finish()
            else:
                path = self.owner.session.workspace.save_upload(name, data)
        except UploadError as err:
            self.error = str(err)
            self.owner.session.notify(str(err), "error")
            return None
        self.error = ""
        self.owner.set("data.train_path", str(path))
        self.owner.set("data.format", "auto")
        self.result = None
        self.owner.session.notify(f"uploaded {os.path.basename(path)} ({path.stat().st_size / 1e6:.1f} MB)", "success")
        return path

    def map_column(self, role: str, column: str | None) -> None:
        """Say which file column plays `role` (prompt, response, ...); the report must be re-run."""
        if role not in COLUMN_ROLES:
            raise ValueError(f"unknown column role {role!r}; use one of {', '.join(COLUMN_ROLES)}")
        if column is None and role != "system":
            return
        self.owner.set(COLUMN_ROLES[role], column)
        self.result = None

    def compute(self, cfg: JobConfig | None = None) -> DataCheck:
        """The check of `cfg` (default: the current config); no state changes, so a worker thread may call it.

        It runs in a child process with memory and time limits, so a hostile file ends only its own
        check (DataCheckStopped says why), never the server.
        """
        from ui.state.data_check import run_isolated

        return run_isolated(check_data, cfg or self.owner.config)

    def apply(self, result: DataCheck | None, error: str = "") -> None:
        """Show a finished check (or the error that stopped it)."""
        self.checking = False
        self.error = self.owner.session.confinement.redact(error)
        self.result = result

    def run_check(self) -> DataCheck | None:
        """Check (in a child process, waiting here); None (and `error`) when the source could not be read
        at all, or the check ran out of memory or time."""
        self.checking = True
        try:
            result = self.compute()
        except Exception as err:  # noqa: BLE001  (DataCheckStopped and pickling errors alike: show why, keep the page)
            self.apply(None, f"could not check {self.source}: {err}")
            return None
        self.apply(result)
        return result

    @property
    def columns(self) -> list[str]:
        return list(self.result.columns) if self.result else []

    def roles(self) -> list[str]:
        """The column roles worth showing: those of the chosen or detected shape, else all of them."""
        shape = self.owner.config.data.shape
        if shape == "auto" and self.result is not None and self.result.ok:
            shape = self.result.report.shape
        return list(SHAPE_ROLES.get(shape, COLUMN_ROLES))

    def problems(self) -> list[str]:
        """What keeps the Data step from being done, in words."""
        if self.checking:
            return ["the data is still being checked; wait for its report"]
        if self.result is None:
            return ["check the data first (the report has not been run for this source and mapping)"]
        return [f"{p['where']}: {p['message']}" for p in self.result.problem_lines() if p["severity"] == "error"]
