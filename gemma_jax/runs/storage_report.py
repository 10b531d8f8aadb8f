"""What a workspace's runs and datasets take on disk and on Cloud Storage, and what that costs a month.

One row per run (its folder: logs, metrics, local checkpoints, evaluations, exports), one per
checkpoint folder a run writes outside it (gs://, or a local folder of its own), one per uploaded data file, and one per gs:// dataset a
run reads. Cloud Storage rows carry a monthly cost at list price (or the run's own
`checkpoint.price_per_gib_month` / `checkpoint.storage_class`); local rows carry none. A row that
cannot be measured (no access to a bucket, a damaged config) says why instead of failing the report.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gemma_jax.cloud_storage import is_gcs
from gemma_jax.config import ConfigError
from gemma_jax.runs.run_store import RunStore, is_run_dir
from gemma_jax.runs.storage import storage_bytes
from gemma_jax.storage_cost import cost_note, monthly_cost

DATA_FIELDS = ("train_path", "validation_path", "test_path")


@dataclasses.dataclass(frozen=True)
class StorageItem:
    """One thing that takes storage. `monthly_usd` is None for local disk and for what could not be measured."""

    kind: str  # "run", "checkpoints" or "dataset"
    name: str  # the run id or the file name
    location: str  # "local" or the gs:// URL
    size_bytes: int | None
    cost: str = ""  # "~$0.03/month (standard, list price)" for Cloud Storage
    monthly_usd: float | None = None
    problem: str = ""  # why it could not be measured


@dataclasses.dataclass(frozen=True)
class StorageReport:
    items: tuple[StorageItem, ...]

    @property
    def local_bytes(self) -> int:
        return sum(item.size_bytes or 0 for item in self.items if item.location == "local")

    @property
    def cloud_bytes(self) -> int:
        return sum(item.size_bytes or 0 for item in self.items if item.location != "local")

    @property
    def monthly_usd(self) -> float:
        return sum(item.monthly_usd or 0.0 for item in self.items)


def _measured(kind: str, shown: str, target: str, *, storage_class="standard", price=None) -> StorageItem:
    """The size of `target` (a local path or a gs:// URL; for gs://, its cost too); an error, such as a
    bucket without access, becomes the item's problem."""
    location = target if is_gcs(target) else "local"
    try:
        size = storage_bytes(target)
    except (OSError, ValueError, RuntimeError) as err:
        return StorageItem(kind, shown, location, None, problem=str(err))
    if location == "local":
        return StorageItem(kind, shown, location, size)
    return StorageItem(
        kind, shown, location, size, cost_note(size, storage_class, price), monthly_cost(size, storage_class, price)
    )


def _run_items(path: Path, datasets: dict[str, tuple[str, float | None]]) -> list[StorageItem]:
    """The run's folder and its gs:// checkpoints; notes the gs:// datasets it reads in `datasets`."""
    items = [_measured("run", path.name, str(path))]
    try:
        cfg = RunStore(path).config()
    except (ConfigError, OSError, ValueError) as err:
        return [dataclasses.replace(items[0], problem=f"config.yaml unreadable ({err}); only the folder is counted")]
    checkpoint = cfg.checkpoint
    storage_class, price = checkpoint.storage_class, checkpoint.price_per_gib_month
    if checkpoint.directory and is_gcs(checkpoint.directory):
        items.append(
            _measured("checkpoints", path.name, checkpoint.directory, storage_class=storage_class, price=price)
        )
    elif checkpoint.directory and not Path(checkpoint.directory).resolve().is_relative_to(path.resolve()):
        items.append(_measured("checkpoints", path.name, checkpoint.directory))  # a local folder of its own
    for field in DATA_FIELDS:
        url = getattr(cfg.data, field, None)
        if url and is_gcs(url):
            datasets.setdefault(url, ("standard", price))
    return items


def storage_report(runs_dir: str | Path, uploads_dir: str | Path | None = None) -> StorageReport:
    """Every run under `runs_dir`, the data files under `uploads_dir`, and the gs:// data the runs read."""
    items: list[StorageItem] = []
    datasets: dict[str, tuple[str, float | None]] = {}
    runs = Path(runs_dir)
    folders = sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")) if runs.is_dir() else []
    for path in folders:
        if not path.is_symlink() and is_run_dir(path):
            items.extend(_run_items(path, datasets))
    uploads = Path(uploads_dir) if uploads_dir is not None else None
    if uploads is not None and uploads.is_dir():
        for file in sorted(p for p in uploads.rglob("*") if p.is_file() and not p.is_symlink()):
            name = str(file.relative_to(uploads))
            if not any(part.startswith(".") for part in Path(name).parts):  # half-written uploads are hidden
                items.append(_measured("dataset", name, str(file)))
    for url, (storage_class, price) in sorted(datasets.items()):
        items.append(
            _measured("dataset", url.rstrip("/").rsplit("/", 1)[-1], url, storage_class=storage_class, price=price)
        )
    return StorageReport(tuple(items))
