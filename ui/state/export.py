"""The Export page: write a checkpoint in the chosen formats, then offer them as download links.

`run_export` starts `python -m gemma_jax.export --formats ...` (a separate process: it loads the
model); `poll()` on the server thread shows its progress lines (the stage, bytes written of the
total) and lists the exports at the end. Downloads are plain links to the server's download route
(ui/downloads.py), never bytes through the page's websocket. The formats are gemma_jax.export's
table (formats.py); the adapter is the default: small, quick, and what most people want first.
"""

from __future__ import annotations

import json
from pathlib import Path

import param

from gemma_jax.export import export_dir, list_exports
from gemma_jax.export.formats import FORMATS, NOT_OFFERED
from gemma_jax.export.progress import format_size
from gemma_jax.export.serving import SERVING_FILE
from gemma_jax.runs.run_store import RunDirError, RunStore
from ui.downloads import download_url
from ui.state.background import CheckpointJobState

__all__ = ["ExportState", "format_size"]

KIND_LABELS = {**{name: f.label for name, f in FORMATS.items()}, "bundle": "adapter and merged model"}
LORA_METHODS = ("lora", "qlora", "dpo")  # gemma_jax.train.setup.LORA_KINDS, without importing JAX


class ExportState(CheckpointJobState):
    formats = param.ListSelector(
        default=["adapter"],
        objects=list(FORMATS),
        doc="the formats to export (gemma_jax.export.formats): each gets a folder and a zip of its own",
    )
    exports = param.List(default=[], doc="finished exports of the chosen run, newest step first, adapter first")
    step_shown = param.Integer(default=None, allow_None=True, doc="the step whose exports are shown")

    module = "gemma_jax.export"
    noun = "export"

    def _load(self, _event=None) -> None:
        run_dir = self.picker.run_dir
        self.exports = list_exports(run_dir) if run_dir is not None else []
        self.step_shown = self.exports[0]["step"] if self.exports else None
        if not self.has_adapter():  # a fully fine-tuned run has no adapter: its model is the export
            self.formats = [n for n in self.formats if not FORMATS[n].needs_lora] or ["keras"]

    @property
    def shown(self) -> list[dict]:
        """The exports of the step shown, the adapter first."""
        return [e for e in self.exports if e["step"] == self.step_shown]

    @property
    def export(self) -> dict | None:
        """The export shown first (the adapter, when there is one)."""
        shown = self.shown
        return shown[0] if shown else None

    def show(self, path: str) -> None:
        found = next((e for e in self.exports if e["path"] == path), None)
        if found is not None:
            self.step_shown = found["step"]

    def show_step(self, step: int) -> None:
        if any(e["step"] == step for e in self.exports):
            self.step_shown = step

    def has_adapter(self) -> bool:
        """The chosen run trained LoRA adapters (a fully fine-tuned run has only the merged model)."""
        run_dir = self.picker.run_dir
        if run_dir is None:
            return True
        try:
            return RunStore.open(run_dir).config().method.kind in LORA_METHODS
        except (RunDirError, ValueError, OSError):
            return True  # unreadable: the export process says what is wrong

    def _options(self) -> list[str]:
        return ["--formats", ",".join(n for n in FORMATS if n in self.formats)]

    def _result_path(self, run_dir: Path, step: int) -> Path:
        return export_dir(run_dir, step, next(n for n in FORMATS if n in self.formats))

    @property
    def not_offered(self) -> dict[str, str]:
        """Formats people ask for that are not written, with why (the page says so: no broken button)."""
        return dict(NOT_OFFERED)

    def run_export(self) -> bool:
        """Start the export; False (with `error` set) when it cannot start."""
        if not self.formats:
            self.error = "Pick at least one format to export."
            return False
        adapters = [FORMATS[n].label for n in self.formats if FORMATS[n].needs_lora]
        if self.picker.run is not None and adapters and not self.has_adapter():
            self.error = (
                f"Run {self.picker.run} was fine-tuned in full: it has no LoRA adapter ({', '.join(adapters)}). "
                "Export a merged format instead (Hugging Face, Keras or GGUF)."
            )
            return False
        return self._start()

    def downloads(self) -> list[dict]:
        """A link per export of the step shown: kind label, file name, size, URL, and where it is on the
        server (relative to the workspace behind a login: the server's own folders are never shown)."""
        run = self.picker.run
        links = []
        for export in self.shown:
            archive = export.get("zip")
            if not archive or run is None:
                continue
            name = Path(archive).name
            quality = export.get("quality") if isinstance(export.get("quality"), dict) else {}
            links.append(
                {
                    "kind": export["kind"],
                    "label": KIND_LABELS.get(export["kind"], export["kind"]),
                    "quality": _quality_text(quality),
                    "name": name,
                    "size": format_size(export["zip_size"]),
                    "url": download_url(run, f"{export['folder']}/{name}"),
                    "server_path": self.session.confinement.shown(export["path"]),
                }
            )
        return links

    def serving(self) -> list[dict]:
        """Per export of the step shown: its label and serving.json (command, curl, Vertex spec)."""
        shown = []
        for export in self.shown:
            path = Path(export["path"]) / SERVING_FILE
            try:
                spec = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(spec, dict):
                shown.append({"label": KIND_LABELS.get(export["kind"], export["kind"]), **spec})
        return shown

    def file_rows(self) -> list[dict]:
        return [
            {"file": f"{e['folder']}/{f['name']}", "size": format_size(f["size"])}
            for e in self.shown
            for f in e.get("files", [])
        ]

    def readme_text(self) -> str:
        """The README of the export shown first: what the files are, how to load them, the chat template."""
        export = self.export
        path = None if export is None else Path(export["path"]) / "README.md"
        return self._shown_text(path)

    def config_text(self) -> str:
        """The run's config.yaml, as exported (or the run's own when nothing is exported yet)."""
        folder = Path(self.export["path"]) if self.export else self.picker.run_dir
        return self._shown_text(None if folder is None else folder / "config.yaml")

    def _shown_text(self, path: Path | None) -> str:
        """A file's text for the page; behind a login, the workspace's absolute path made relative (a local
        data or model path in the config is absolute on the server) and the server's own hidden."""
        if path is None or not path.is_file():
            return ""
        return self.session.confinement.redact(path.read_text(encoding="utf-8"))

    @property
    def export_options(self) -> dict[str, int]:
        """One entry per exported step: its kinds and their zips' size in all (each zip's size is on its link),
        short enough to read in the closed list."""
        steps: dict[int, list[dict]] = {}
        for e in self.exports:
            steps.setdefault(e["step"], []).append(e)
        return {
            f"step {step}: {', '.join(e['kind'] for e in kinds)} ({format_size(sum(e['zip_size'] or 0 for e in kinds))})": step
            for step, kinds in steps.items()
        }


def _quality_text(quality: dict) -> str:
    """ "validation perplexity 12.3 vs 12.1 unquantized (+1.6%); 4 of 4 greedy answers identical ...", with the
    export's warning when the change is large either way; "" where not measured."""
    if quality.get("perplexity") is None or quality.get("reference_perplexity") is None:
        return ""
    text = (
        f"validation perplexity {quality['perplexity']:.4g} vs {quality['reference_perplexity']:.4g} unquantized "
        f"({quality['increase_percent']:+.2f}%)"
    )
    agreement = quality.get("greedy_agreement")
    if isinstance(agreement, dict) and agreement.get("prompts"):
        text += f"; {agreement.get('identical')} of {agreement['prompts']} greedy answers identical to the unquantized"
    warning = quality.get("warning")
    return f"{text}. Warning: {warning}" if isinstance(warning, str) and warning else text
