"""lineage.json of an export: which run, checkpoint, config and data made it, and what it came from.

The hashes are of content, not names: the same config.yaml bytes or the same data files give the
same hash on any machine, so two exports can be told apart (or matched) without their runs.
A run whose base model was itself an export (its `model.source` is an export folder) names that
export as its parent, so a chain of fine-tunes can be followed back.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gemma_jax.cloud_storage import is_gcs
from gemma_jax.config.job_config import DataConfig, JobConfig
from gemma_jax.data.gcs_data import content_digest
from gemma_jax.data.readers import resolve_path

LINEAGE = "lineage.json"
_BLOCK = 1024 * 1024


def _update_with_path(digest, path: Path) -> None:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() if file != path else b"")
        with file.open("rb") as source:
            while block := source.read(_BLOCK):
                digest.update(block)


def dataset_hash(data: DataConfig) -> str:
    """sha256 over the train/validation/test data's bytes (files, or folders file by file; on gs://, each
    object's name and the MD5 Cloud Storage keeps of its bytes); a dataset
    named on a hub (not a local path) is hashed by its name, split and subset."""
    digest = hashlib.sha256()
    for role, name in (("train", data.train_path), ("validation", data.validation_path), ("test", data.test_path)):
        if not name:
            continue
        digest.update(f"\0{role}\0".encode())
        path = resolve_path(name)
        if is_gcs(name):
            content_digest(name, digest)
        elif path.exists():
            _update_with_path(digest, path)
        else:
            digest.update(f"{data.source}:{name}:{data.split}:{data.subset}".encode())
    return "sha256:" + digest.hexdigest()


def config_hash(config_path: Path) -> str:
    return "sha256:" + hashlib.sha256(Path(config_path).read_bytes()).hexdigest()


def parent_export(source: str) -> dict | None:
    """The lineage of the export a base model was loaded from (the folder or one above it), if any."""
    path = Path(source)
    for folder in (path, *path.parents[:2]):
        candidate = folder / LINEAGE
        if candidate.is_file():
            try:
                lineage = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return {k: lineage.get(k) for k in ("run_id", "step", "format", "config_hash", "dataset_hash")}
    return None


def lineage(cfg: JobConfig, config_path: Path, run_id: str, step: int, export_format: str) -> dict:
    return {
        "run_id": run_id,
        "step": step,
        "format": export_format,
        "base_model": cfg.model.source,
        "config_hash": config_hash(config_path),
        "dataset_hash": dataset_hash(cfg.data),
        "parent_export": parent_export(cfg.model.source),
    }
