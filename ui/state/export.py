"""The Export page: write a checkpoint's adapter / merged preset / zip, then offer them for download.

`run_export` starts `python -m gemma_jax.export` (a separate process: it loads the
model); `poll()` on the server thread follows it and lists the exports at the end.
"""

from __future__ import annotations

from pathlib import Path

import param

from gemma_jax.export import export_dir, list_exports
from ui.state.background import BackgroundCommand
from ui.state.checkpoint_picker import CheckpointPicker
from ui.state.evaluate import job_environment


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


class ExportState(param.Parameterized):
    merged = param.Boolean(default=True, doc="also write the merged Keras preset (the full model: larger, slower)")
    running = param.Boolean(default=False)
    progress = param.String(default="")
    error = param.String(default="")
    exports = param.List(default=[], doc="finished exports of the chosen run, newest step first")
    export = param.Dict(default=None, allow_None=True, doc="the export shown")

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self.picker = CheckpointPicker(session)
        self._job: BackgroundCommand | None = None
        self.picker.param.watch(self._load_exports, "run")
        self._load_exports()

    def _load_exports(self, _event=None) -> None:
        run_dir = self.picker.run_dir
        self.exports = list_exports(run_dir) if run_dir is not None else []
        self.export = self.exports[0] if self.exports else None

    def show(self, path: str) -> None:
        self.export = next((e for e in self.exports if e["path"] == path), self.export)

    def run_export(self) -> bool:
        """Start the export; False (with `error` set) when it cannot start."""
        if self.running:
            return False
        problem = self.picker.problem()
        if problem:
            self.error = problem
            return False
        self.error, self.progress, self.running = "", "Starting the export…", True
        args = [*self.picker.arguments(), *([] if self.merged else ["--no-merged"])]
        self._job = BackgroundCommand("gemma_jax.export", args, env=job_environment(self.session))
        return True

    def poll(self) -> None:
        """Follow the running export (server thread)."""
        job = self._job
        if job is None:
            return
        if not job.done:
            line = job.last_line()
            if line and line != self.progress:
                self.progress = line
            return
        self._job, self.running = None, False
        if job.returncode == 0:
            self.progress = "Export finished."
            self._load_exports()
            step = self.picker.resolved_step
            if step is not None:
                self.show(str(export_dir(self.picker.run_dir, step)))
            self.session.notify(f"Export of {self.picker.run} finished", "success")
        else:
            self.progress = ""
            self.error = f"The export failed: {job.error_message()}"

    def wait(self, timeout: float | None = None) -> None:
        if self._job is not None:
            self._job.wait(timeout)
        self.poll()

    def file_rows(self) -> list[dict]:
        return [{"file": f["name"], "size": format_size(f["size"])} for f in (self.export or {}).get("files", [])]

    def config_text(self) -> str:
        """The run's config.yaml, as exported (or the run's own when nothing is exported yet)."""
        folder = Path(self.export["path"]) if self.export else self.picker.run_dir
        path = None if folder is None else folder / "config.yaml"
        return path.read_text(encoding="utf-8") if path is not None and path.is_file() else ""

    @property
    def export_options(self) -> dict[str, str]:
        return {f"step {e['step']} ({format_size(e['zip_size'])})": e["path"] for e in self.exports}
