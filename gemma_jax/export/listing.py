"""Where exports live in a run directory, and listing them for download (no JAX import)."""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "export.json"


def export_dir(run_dir, step: int) -> Path:
    return Path(run_dir) / "export" / f"step-{step}"


def _files(folder: Path) -> list[dict]:
    return [
        {"name": str(path.relative_to(folder)), "size": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]


def list_exports(run_dir) -> list[dict]:
    """Finished exports, newest step first: the manifest plus "path", "zip", "zip_size" and "files" (name, size)."""
    exports = []
    for folder in (Path(run_dir) / "export").glob("step-*"):
        manifest_file = folder / MANIFEST
        try:
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not finished (the manifest is written last) or damaged
        archive = folder / f"{folder.name}.zip"
        exports.append(
            {
                **manifest,
                "path": str(folder),
                "zip": str(archive) if archive.is_file() else None,
                "zip_size": archive.stat().st_size if archive.is_file() else 0,
                "files": _files(folder),
            }
        )
    return sorted(exports, key=lambda e: -int(e.get("step", 0)))
