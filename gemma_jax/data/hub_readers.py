"""Hugging Face `datasets` and TensorFlow Datasets sources, read row by row.

Local sources (a `save_to_disk` folder, local files, a prepared TFDS data_dir)
work offline; compressed local files are checked for decompression bombs first. A Hub
name without a network fails within seconds with what to do, instead of hanging in retries.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.containers import check_compressed_file
from gemma_jax.data.errors import DataError
from gemma_jax.data.formats import BY_EXTENSION, SAVED_DATASET_FILES
from gemma_jax.data.record_source import Record, RecordSource

HUB_HOST = ("huggingface.co", 443)
PROBE_TIMEOUT_S = 3.0
_HF_BUILDERS = {"jsonl": "json", "json": "json", "csv": "csv", "tsv": "csv", "parquet": "parquet"}


def open_hub(kind: str, name: str, display: str, cfg: DataConfig) -> RecordSource:
    if not name.strip():
        raise DataError(f"{display}: give a dataset name after '{kind}:', e.g. {kind}:imdb.", path=display)
    if kind == "tfds":
        dataset = _load_tfds(name, display, cfg)
        src = RecordSource(display, name, "tfds", "row", None, iter(()))
        src.records = _tfds_records(dataset)
        return src
    dataset = _load_hf(name, display, cfg)
    src = RecordSource(display, Path(name).name or name, "hf", "row", list(dataset.column_names), iter(()))
    src.records = ((i, dict(row)) for i, row in enumerate(dataset, 1))
    return src


# ----- Hugging Face datasets ---------------------------------------------------------------------------------
def _load_hf(name: str, display: str, cfg: DataConfig):
    local = Path(name).expanduser()
    if local.is_file():
        check_compressed_file(local, display)  # before datasets expands a .gz/.bz2/.xz/.zip into its cache
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{display}: reading Hugging Face datasets needs `pip install datasets`.", path=display
        ) from None
    try:
        if local.is_dir() and any((local / f).exists() for f in SAVED_DATASET_FILES):
            return _pick_split(datasets.load_from_disk(str(local)), cfg.split, display)
        if local.is_file():
            builder = _HF_BUILDERS.get(BY_EXTENSION.get(local.suffix.lower(), ""), "text")
            options = {"delimiter": "\t"} if local.suffix.lower() == ".tsv" else {}
            return datasets.load_dataset(
                builder, data_files=str(local), split="train", cache_dir=cfg.data_dir, **options
            )
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001  (datasets raises many types for one unreadable source)
        raise DataError(
            f"{display} cannot be read as a Hugging Face dataset ({type(err).__name__}: {err}).", path=display
        ) from None
    if local.exists() or name.startswith((".", "/", "~")):
        raise DataError(
            f"{display} is a folder but not a saved Hugging Face dataset (no {' or '.join(SAVED_DATASET_FILES)}). "
            "Save it with Dataset.save_to_disk, or point data.train_path at the data file itself.",
            path=display,
        )
    offline = _offline()
    if not offline and not _hub_reachable():
        offline = "the Hugging Face Hub (huggingface.co) cannot be reached from this machine"
    try:
        with _hub_offline(bool(offline)):
            return datasets.load_dataset(name, cfg.subset, split=cfg.split, cache_dir=cfg.data_dir)
    except Exception as err:  # noqa: BLE001  (network, cache and name errors all end here)
        if offline:
            raise DataError(
                f"Cannot load the Hugging Face dataset {name!r}: {offline}, and it is not in the local cache. "
                "Where there is a network, run datasets.load_dataset(...).save_to_disk(FOLDER), copy the "
                "folder here and set data.train_path to it.",
                path=display,
            ) from None
        raise DataError(
            f"Cannot load the Hugging Face dataset {name!r} ({type(err).__name__}: {err}). Check the name "
            "(owner/dataset), data.subset and data.split.",
            path=display,
        ) from None


def _offline() -> str:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var} is set (offline mode)"
    return ""


@contextlib.contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """Make datasets/huggingface_hub use only the local cache (they read the env once, at import)."""
    if not offline:
        yield
        return
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved = datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved


def _hub_reachable() -> bool:
    """A quick connection test, so an offline machine fails in seconds instead of retrying for minutes."""
    try:
        with socket.create_connection(HUB_HOST, timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _pick_split(dataset, split: str, display: str):
    if not hasattr(dataset, "keys"):  # a single Dataset, not a DatasetDict
        return dataset
    if split in dataset:
        return dataset[split]
    raise DataError(
        f"{display} has no split {split!r}; its splits are {', '.join(repr(s) for s in dataset)}. Set data.split.",
        path=display,
    )


# ----- TensorFlow Datasets -----------------------------------------------------------------------------------
def _load_tfds(name: str, display: str, cfg: DataConfig):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError(
            f"{display}: reading TFDS datasets needs `pip install tensorflow-datasets`.", path=display
        ) from None
    try:
        return tfds.load(name, split=cfg.split, data_dir=cfg.data_dir, download=False, try_gcs=False)
    except Exception as err:  # noqa: BLE001  (tfds raises many types for a missing dataset)
        where = f"in data.data_dir {cfg.data_dir!r}" if cfg.data_dir else "in the default TFDS folder"
        raise DataError(
            f"Cannot load the TFDS dataset {name!r} (split {cfg.split!r}) {where} ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Prepare it first with "
            "tfds.builder(name, data_dir=...).download_and_prepare(), then set data.data_dir to that folder.",
            path=display,
        ) from None


def _tfds_records(dataset) -> Iterator[Record]:
    import tensorflow_datasets as tfds

    for number, row in enumerate(tfds.as_numpy(dataset), 1):
        yield number, {key: _plain(value) for key, value in row.items()}


def _plain(value: object) -> object:
    """numpy bytes/scalars/arrays from TFDS as str, int, float or lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist"):
        value = value.tolist()
        if isinstance(value, list):
            return [_plain(v) for v in value]
        return _plain(value) if isinstance(value, bytes) else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
