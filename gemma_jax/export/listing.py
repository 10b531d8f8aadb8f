"""Where exports live in a run directory, and listing them for download (no JAX import).

Each format (formats.py) has a folder of its own, so writing one never touches another:

    RUN/export/step-N-adapter/   the LoRA adapter, config.yaml, README.md, export.json, lineage.json, a zip
    RUN/export/step-N-keras/     preset/ (a Keras-Hub preset, bf16), and the same files
    RUN/export/step-N-hf/ ...    one per format: hf, peft, gguf-f16, gguf-q8_0, gguf-q4_k_m

Older exports are still listed: `step-N-merged/` as kind "keras", and `RUN/export/step-N/` (adapter
and merged preset together, written before kinds had folders) as kind "bundle".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from gemma_jax.export.formats import FORMATS, LEGACY_NAMES
from gemma_jax.runs.run_store import RunStore

MANIFEST = "export.json"
README = "README.md"
KINDS = tuple(FORMATS)  # the order they are listed and offered in: the adapter is the default download
LEGACY_KIND = "bundle"
_FOLDER = re.compile(rf"step-(\d+)(?:-({'|'.join(re.escape(k) for k in (*KINDS, *LEGACY_NAMES))}))?")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_export_folder(name: str) -> bool:
    """Whether `name` is an export folder's name: `step-N` or `step-N-<format>` (an old `step-N-merged` too)."""
    return _FOLDER.fullmatch(name) is not None


def export_dir(run_dir, step: int, kind: str) -> Path:
    """RUN/export/step-<step>-<kind>/ (kind: a format name, formats.py)."""
    if kind not in KINDS:
        raise ValueError(f"unknown export format {kind!r}; choose one of {', '.join(KINDS)}")
    return RunStore(run_dir).export_format_dir(step, kind)


def archive_stem(run_dir, step: int, kind: str) -> str:
    """The zip's name without .zip, and the folder it unpacks to: `<run>-step-<N>-<kind>`, plain ASCII."""
    run = _UNSAFE.sub("-", Path(run_dir).name).strip("-.") or "run"
    return f"{run}-step-{step}-{kind}"


def _files(folder: Path) -> list[dict]:
    return [
        {"name": path.relative_to(folder).as_posix(), "size": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]


def _archive(folder: Path, manifest: dict) -> Path | None:
    named = manifest.get("archive")
    if isinstance(named, str) and named == Path(named).name and (folder / named).is_file():
        return folder / named
    zips = sorted(folder.glob("*.zip"))  # an export written before the manifest named its zip
    return zips[0] if zips else None


def list_exports(run_dir) -> list[dict]:
    """Finished exports, newest step first, then in format order: the manifest plus
    "kind", "path", "folder" (its name under RUN/export), "zip", "zip_size" and "files" (name, size)."""
    exports = []
    for folder in RunStore(run_dir).export_dir.glob("step-*"):
        match = _FOLDER.fullmatch(folder.name)
        if match is None or not folder.is_dir():
            continue  # a half-written export is hidden (.step-N-kind.*.part) and never matches
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # damaged (a folder is moved into place only when complete)
        if not isinstance(manifest, dict):
            continue
        archive = _archive(folder, manifest)
        exports.append(
            {
                **manifest,
                "step": int(manifest.get("step", match.group(1))),
                "kind": LEGACY_NAMES.get(match.group(2), match.group(2)) if match.group(2) else LEGACY_KIND,
                "path": str(folder),
                "folder": folder.name,
                "zip": str(archive) if archive else None,
                "zip_size": archive.stat().st_size if archive else 0,
                "files": _files(folder),
            }
        )
    order = {kind: i for i, kind in enumerate((*KINDS, LEGACY_KIND))}
    return sorted(exports, key=lambda e: (-e["step"], order[e["kind"]]))
