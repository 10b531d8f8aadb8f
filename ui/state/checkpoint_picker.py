"""Choosing a run of the workspace and one of its checkpoints ("latest" or a step), shared by three pages.

Checkpoint steps are read from the run's checkpoint folder (no JAX, no Orbax):
numbered directories, newest first; on gs:// the numbered "folders" of the prefix
(one listing request with a short timeout; unreachable storage lists nothing and
"latest" is still resolved by the process that loads it).
"""

from __future__ import annotations

from pathlib import Path

import param

from gemma_jax.cloud_storage import CloudStorageError, folder_names, is_gcs
from gemma_jax.runs.run_store import RunDirError, RunStore
from ui.confinement import Confinement, ConfinementError

LATEST = "latest"


def checkpoint_steps(run_dir: Path, confinement: Confinement | None = None) -> list[int]:
    """Saved checkpoint steps of a run, newest first ([] when none, when their gs:// bucket cannot be read, or when
    the run's checkpoint folder is one `confinement` refuses: its listing is not shown)."""
    try:
        directory = RunStore.open(run_dir).config().checkpoint.directory
        if directory and confinement is not None:
            directory = confinement.checkpoint_dir(directory)
    except (RunDirError, ValueError, OSError):  # ConfinementError is a ValueError
        return []
    if is_gcs(directory):
        try:
            names = folder_names(directory)
        except CloudStorageError:
            return []
    elif directory and "://" in directory:
        return []
    else:
        folder = Path(directory) if directory else RunStore(run_dir).checkpoints_dir
        if not folder.is_dir():
            return []
        names = [p.name for p in folder.iterdir() if p.is_dir()]
    return sorted((int(name) for name in names if name.isdigit()), reverse=True)


class CheckpointPicker(param.Parameterized):
    """The run (by run_id) and the checkpoint ("latest" or a step as text) a page works on."""

    run = param.Selector(default=None, objects=[], allow_None=True)
    checkpoint = param.Selector(default=LATEST, objects=[LATEST])

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self.refresh()
        session.param.watch(self._follow_session, "selected_run")
        self.param.watch(self._refresh_steps, "run")

    def _follow_session(self, event) -> None:
        if event.new:
            self.refresh()
            if event.new in self.param.run.objects:
                self.run = event.new

    def refresh(self) -> None:
        """Re-read the runs and the chosen run's checkpoints (new runs and new saves appear)."""
        runs_dir = Path(self.session.workspace.runs_dir)
        runs = (
            sorted(
                (p.name for p in runs_dir.iterdir() if RunStore(p).status_path.is_file() and self._ours(p.name)),
                reverse=True,
            )
            if runs_dir.is_dir()
            else []
        )
        self.param.run.objects = runs
        wanted = self.run if self.run in runs else self.session.selected_run
        self.run = wanted if wanted in runs else (runs[0] if runs else None)
        self._refresh_steps()

    def _refresh_steps(self, _event=None) -> None:
        options = [LATEST, *map(str, self.steps)]
        self.param.checkpoint.objects = options
        if self.checkpoint not in options:
            self.checkpoint = LATEST

    def _ours(self, run_id: str) -> bool:
        """A run folder of this workspace (not hidden, not a link leading out of it)."""
        try:
            self.session.confinement.run_dir(run_id)
        except ConfinementError:
            return False
        return True

    @property
    def run_dir(self) -> Path | None:
        return None if self.run is None else self.session.confinement.run_dir(self.run)

    @property
    def steps(self) -> list[int]:
        return [] if self.run_dir is None else checkpoint_steps(self.run_dir, self.session.confinement)

    @property
    def step(self) -> int | None:
        """The chosen step; None for "latest"."""
        return None if self.checkpoint == LATEST else int(self.checkpoint)

    @property
    def resolved_step(self) -> int | None:
        """The step "latest" stands for now (None when the run has no checkpoint)."""
        steps = self.steps
        return (steps[0] if steps else None) if self.step is None else self.step

    def problem(self) -> str | None:
        """Why there is nothing to work on yet, in words with the way out; None when a checkpoint is chosen."""
        if self.run is None:
            return "There is no run in this workspace yet: start one on the New run page."
        refused = self.session.confinement.run_problems(self.run_dir)
        if refused:  # its config names a model, data or checkpoints this user may not read
            return f"Run {self.run} cannot be used here: {'; '.join(refused)}"
        if self.resolved_step is None and not self._remote():
            return (
                f"Run {self.run} has no checkpoint yet. Wait for its first save (or use Save checkpoint now on "
                "the Training page), then refresh."
            )
        return None

    def _remote(self) -> bool:
        try:
            directory = RunStore.open(self.run_dir).config().checkpoint.directory
        except (RunDirError, ValueError, OSError):
            return False
        return bool(directory and "://" in directory)

    def arguments(self) -> list[str]:
        """RUN_DIR [--step N] for the command-line jobs."""
        return [str(self.run_dir)] + ([] if self.step is None else ["--step", str(self.step)])
