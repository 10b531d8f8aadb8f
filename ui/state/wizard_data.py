"""Step 1 of the New-run wizard: where the examples come from, which columns mean what, and their report."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import param

from gemma_jax.config.errors import quoted, shortened
from gemma_jax.config.fields import wizard_fields
from gemma_jax.config.job_config import JobConfig
from gemma_jax.config.validate import name_slug
from gemma_jax.data.readers import EXAMPLE_DATASET
from gemma_jax.data.shapes import ColumnSuggestion
from gemma_jax.export.progress import format_size
from ui.confinement import Confinement, ConfinementError
from ui.state.data_check import DataCheck
from ui.state.wizard_columns import COLUMN_ROLES, column_advice, reset_mapping, shown_roles, with_mapping
from ui.state.wizard_skip import COPY_FOLDER, Skipped, copy_data
from ui.state.wizard_source_check import CheckPlan, SourceCheck, check_source
from ui.workspace import UploadError, UploadWriter

if TYPE_CHECKING:
    from ui.state.new_run import NewRunState

REMOTE_PREFIXES = ("hf:", "tfds:", "gs://")
# What the Data step shows at once, and what waits behind "Advanced" (cleaning, augmentation, split,
# reading): the fields say where they go (`wizard=` in gemma_jax/config).
BASIC_FIELDS = wizard_fields("data")
ADVANCED_FIELDS = wizard_fields("data.advanced")


def source_problem(source: str, confinement: Confinement | None = None) -> str:
    """Why a typed-in data source cannot be used, in words ('' when it can).

    Where it lies is `Confinement.data_source`'s question; this one is whether it exists, said with
    the path as the user may see it (relative to a logged-in user's workspace).
    """
    if not source:
        return "type a data source: a file path on the server, hf:NAME, tfds:NAME, gs://bucket/file or 'example'"
    if source == EXAMPLE_DATASET or source.startswith(REMOTE_PREFIXES):
        return ""
    try:
        exists = Path(source).expanduser().exists()
    except (OSError, ValueError) as error:  # e.g. a name too long for the file system
        return (
            f"{quoted(source)} is not a usable path on the server ({getattr(error, 'strerror', None) or error}); "
            "upload the file instead, or give a path that exists there (or hf:NAME, tfds:NAME, gs://bucket/file, "
            "'example')"
        )
    if not exists:
        shown = confinement.shown(source) if confinement is not None else source
        return (
            f"{shortened(shown, 200)} does not exist on the server; upload the file instead, or give a path that "
            "exists there (or hf:NAME, tfds:NAME, gs://bucket/file, 'example')"
        )
    return ""


DEFAULT_RUN_NAME = JobConfig().name


def name_for_source(source: str) -> str:
    """A run name from a data source ("faq.csv" -> "faq", "hf:org/set" -> "set"); '' when none fits."""
    if source == EXAMPLE_DATASET:
        return "pirate-qa"
    last = re.split(r"[/:\\]", source.rstrip("/"))[-1]
    return name_slug(Path(last).stem if "." in last else last, 60)


class DataStep(param.Parameterized):
    """The Data step: the source, the column mapping and the validation report of the current config.

    The report is computed by `compute()` (pure, safe in a worker thread) and shown by
    `apply()`; `run_check()` does both for tests and small files. A new source starts from a clean
    column mapping that the next check matches to the file's columns (`matched` says how).
    """

    error = param.String(default="", doc="the last thing that went wrong, with what to do")
    checking = param.Boolean(default=False, doc="a check is running (the view shows 'checking…')")
    result = param.ClassSelector(class_=DataCheck, default=None, allow_None=True)
    matched = param.ClassSelector(class_=ColumnSuggestion, default=None, allow_None=True, doc="automatic mapping")
    skip_invalid = param.Boolean(default=False, doc="train on the valid rows only (a copy without the others)")
    skipped = param.ClassSelector(class_=Skipped, default=None, allow_None=True, doc="the copy training uses")

    def __init__(self, owner: NewRunState, **params):
        super().__init__(**params)
        self.owner = owner
        self.choices = 0  # counts sources typed or uploaded: a check started before the latest one is stale
        self.match_columns = False  # the next check matches the columns of a newly chosen file
        self._auto_name = ""  # the run name this step proposed (replaced by the next; a typed name is kept)

    @property
    def source(self) -> str:
        """The file the user chose (the original, also while training uses its valid rows' copy)."""
        skipped = self.skipped
        path = self.owner.config.data.train_path
        return skipped.original if skipped is not None and path == skipped.copy else path

    def _new_source(self, source: str, **fields) -> None:
        """Train on `source` with a clean column mapping, matched to its columns by the next check."""
        cfg = reset_mapping(self.owner.config)
        if self.matched is not None and cfg.data.shape == self.matched.shape:  # the last file's, not a choice
            cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, shape="auto"))
        self.owner.config = cfg  # the config alone: set() below confines the path
        self.skipped = None
        self.matched = None
        self.match_columns = True
        self.owner.set("data.train_path", source)
        for path, value in fields.items():
            self.owner.set(path, value)
        name = name_for_source(source)
        if name and self.owner.config.name in (DEFAULT_RUN_NAME, self._auto_name):
            self.owner.set("name", name)
            self._auto_name = name
        self.result = None

    def forget_source(self) -> None:
        """A config from elsewhere (a cloned run) takes over: its mapping and path are used as they are."""
        self.skipped = None
        self.matched = None
        self.match_columns = False
        self.result = None

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
        self.error = problem + self._still_using() if problem else ""
        if problem:
            return False
        self._new_source(source)
        return True

    def _still_using(self) -> str:
        """After a refused source: which data the wizard still trains on (" " + sentence, or "")."""
        current = self.source
        if not current:
            return ""
        return f" The data in use is still {os.path.basename(current.rstrip('/')) or current}."

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
            self.error = str(err) + self._still_using()
            self.owner.session.notify(str(err), "error")
            return None
        self.error = ""
        self._new_source(str(path), **{"data.format": "auto"})
        self.owner.session.notify(f"uploaded {os.path.basename(path)} ({format_size(path.stat().st_size)})", "success")
        return path

    def map_column(self, role: str, column: str | None) -> None:
        """Say which file column plays `role` (prompt, response, ...); the report must be re-run."""
        if role not in COLUMN_ROLES:
            raise ValueError(f"unknown column role {role!r}; use one of {', '.join(COLUMN_ROLES)}")
        if column is None and role != "system":
            return
        self.match_columns = False  # the person decides from here on
        self.owner.set(COLUMN_ROLES[role], column)
        self.result = None

    def set_skip_invalid(self, skip: bool) -> None:
        """Train on the valid rows only (a copy without the invalid ones), or on the whole file again."""
        if skip == self.skip_invalid:
            return
        self.skip_invalid = skip
        if not skip and self.skipped is not None:
            restored = self.skipped.restore(self.owner.config.data)
            self.skipped = None
            self.owner.config = dataclasses.replace(self.owner.config, data=restored)
        self.result = None

    def plan(self) -> CheckPlan:
        folder = self.owner.session.workspace.uploads_dir / COPY_FOLDER
        return CheckPlan(match_columns=self.match_columns, skip_invalid=self.skip_invalid, copy_folder=str(folder))

    def compute(self, cfg: JobConfig | None = None) -> SourceCheck:
        """The check of `cfg` (default: the current config); no state changes, so a worker thread may call it.

        It runs in a child process with memory and time limits, so a hostile file ends only its own
        check (DataCheckStopped says why), never the server. While training uses the copy without the
        invalid rows, the original is checked again (the mapping may have changed which rows are valid).
        """
        from ui.state.data_check import run_isolated

        cfg = cfg or self.owner.config
        skipped = self.skipped
        if skipped is not None and cfg.data.train_path == skipped.copy:
            cfg = dataclasses.replace(cfg, data=skipped.restore(cfg.data))
        return run_isolated(functools.partial(check_source, self.plan()), cfg)

    def apply(self, result: SourceCheck | DataCheck | None, error: str = "") -> None:
        """Show a finished check (or the error that stopped it): take its matched columns, and train on
        the copy without invalid rows when one was made (else on the file the user chose)."""
        self.checking = False
        self.error = self.owner.session.confinement.redact(error)
        if not isinstance(result, SourceCheck):
            self.result = result
            return
        cfg = self.owner.config
        if self.skipped is not None and cfg.data.train_path == self.skipped.copy:
            cfg = dataclasses.replace(cfg, data=self.skipped.restore(cfg.data))
        if result.suggestion is not None:
            cfg = with_mapping(cfg, result.config.data)
            self.matched = result.suggestion
        self.match_columns = False
        self.skipped = result.skipped
        if result.skipped is not None:
            cfg = dataclasses.replace(cfg, data=copy_data(cfg.data, Path(result.skipped.copy)))
        self.result = result.check  # first: the config change below then needs no new check
        self.owner.config = cfg

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
        return self.result

    @property
    def columns(self) -> list[str]:
        shown = self.skipped.original_check if self.skipped is not None else self.result
        return list(shown.columns) if shown else []

    def detected_shape(self) -> str | None:
        result = self.result
        return result.report.shape if result is not None and result.report.shape else None

    def roles(self) -> list[str]:
        """The column roles worth showing: those of the chosen or detected shape, else prompt and response."""
        return shown_roles(self.owner.config.data, self.detected_shape())

    def advice(self) -> str:
        """What to do about the column mapping, in the page's words ('' when the mapped columns are there)."""
        if self.result is None or self.checking:
            return ""
        return column_advice(self.owner.config.data, self.columns, self.detected_shape())

    def problems(self) -> list[str]:
        """What keeps the Data step from being done, in words."""
        if self.checking:
            return ["the data is still being checked; wait for its report"]
        if self.result is None:
            return ["check the data first (the report has not been run for this source and mapping)"]
        return [f"{p['where']}: {p['message']}" for p in self.result.problem_lines() if p["severity"] == "error"]
