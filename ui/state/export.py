"""The Export page: write a checkpoint's adapter / merged preset / zip, then offer them for download.

`run_export` starts `python -m gemma_jax.export` (a separate process: it loads the
model); `poll()` on the server thread follows it and lists the exports at the end.
"""

from __future__ import annotations

from pathlib import Path

import param

from gemma_jax.export import export_dir, list_exports
from ui.state.background import CheckpointJobState


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


class ExportState(CheckpointJobState):
    merged = param.Boolean(default=True, doc="also write the merged Keras preset (the full model: larger, slower)")
    exports = param.List(default=[], doc="finished exports of the chosen run, newest step first")
    export = param.Dict(default=None, allow_None=True, doc="the export shown")

    module = "gemma_jax.export"
    noun = "export"

    def _load(self, _event=None) -> None:
        run_dir = self.picker.run_dir
        self.exports = list_exports(run_dir) if run_dir is not None else []
        self.export = self.exports[0] if self.exports else None

    def show(self, path: str) -> None:
        self.export = next((e for e in self.exports if e["path"] == path), self.export)

    def _options(self) -> list[str]:
        return [] if self.merged else ["--no-merged"]

    def _result_path(self, run_dir: Path, step: int) -> Path:
        return export_dir(run_dir, step)

    def run_export(self) -> bool:
        """Start the export; False (with `error` set) when it cannot start."""
        return self._start()

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
