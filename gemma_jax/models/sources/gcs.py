"""Copy a model from Google Cloud Storage into a local cache: `gs://bucket/path`.

`path` may be one object (a .gguf file) or a folder (a Keras preset or a
Hugging Face checkpoint); the local copy then loads like any local path. The
copy lives in $GEMMA_JAX_CACHE/gcs (default ~/.cache/gemma_jax/gcs), one
folder per gs:// path, with a manifest of object generations: an unchanged
model is not downloaded again, a changed one is. Downloads go to a temporary
folder that is renamed into place, so a killed download never looks complete.

The client, its credentials and its errors are `gemma_jax.cloud_storage`'s.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.parse
import warnings

from gemma_jax import cloud_storage
from gemma_jax.cloud_storage import CREDENTIALS_ADVICE, CloudStorageError, unreachable
from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.network_timeouts import hub_timeout_s

MANIFEST = ".gcs_manifest.json"
__all__ = ["CREDENTIALS_ADVICE", "MANIFEST", "fetch_gcs", "gcs_cache_root", "parse_gcs_source"]


def gcs_cache_root() -> str:
    """$GEMMA_JAX_CACHE/gcs, default ~/.cache/gemma_jax/gcs."""
    root = os.environ.get("GEMMA_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "gemma_jax"))
    return os.path.join(root, "gcs")


def parse_gcs_source(source: str) -> tuple[str, str]:
    """(bucket, object path without surrounding slashes) of a gs:// source."""
    try:
        return cloud_storage.parse_url(source, "gs://bucket/path/to/model")
    except CloudStorageError as error:
        raise ModelLoadError(str(error)) from None


def _error(error: Exception, source: str) -> ModelLoadError:
    return ModelLoadError(str(cloud_storage.user_error(error, source, "load")))


def _list_objects(source: str) -> tuple[list, bool]:
    """The blobs of the model and whether `source` is a single object."""
    try:
        blobs, single = cloud_storage.list_objects(source, "load")
    except CloudStorageError as error:
        raise ModelLoadError(str(error)) from error.__cause__
    if not blobs:
        raise ModelLoadError(
            f"'{source}' holds nothing: no object and no folder of that name; give the folder of a Keras preset or "
            "Hugging Face checkpoint, or a .gguf file"
        )
    return blobs, single


def _manifest(blobs: list, path: str, single: bool) -> dict[str, list]:
    """{file name relative to the model folder: [generation, size]}: what a local copy must match."""
    start = len(path) - len(path.rsplit("/", 1)[-1]) if single else len(path) + 1 if path else 0
    return {b.name[start:]: [b.generation, b.size] for b in blobs}


def _read_manifest(directory: str) -> dict | None:
    try:
        with open(os.path.join(directory, MANIFEST), encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def _download(blobs: list, manifest: dict, target: str, source: str) -> None:
    """Download into a temporary sibling of `target`, then rename it into place."""
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=".download-", dir=parent)
    try:
        for blob, relative in zip(blobs, manifest):
            destination = os.path.join(temp, relative)
            if os.path.commonpath([temp, os.path.abspath(destination)]) != temp:
                raise ModelLoadError(f"'{source}' holds an object name that escapes its folder: {blob.name}")
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            blob.download_to_filename(destination, timeout=(hub_timeout_s(), 120))
        with open(os.path.join(temp, MANIFEST), "w", encoding="utf-8") as file:
            json.dump(manifest, file)
        if os.path.isdir(target):  # an older copy: move it aside, then swap
            stale = tempfile.mkdtemp(prefix=".stale-", dir=parent)
            os.replace(target, os.path.join(stale, "old"))
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(temp, target)
    except ModelLoadError:
        raise
    except OSError as error:
        if _read_manifest(target) == manifest:  # another process finished the same download first
            return
        raise ModelLoadError(f"cannot write the local copy of '{source}' under {parent}: {error}") from error
    except Exception as error:
        raise _error(error, source) from error
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def fetch_gcs(source: str) -> str:
    """Local path of the model at `source` (a file for one object, else a directory), downloaded if needed.

    Offline, a complete earlier copy is used (with a warning) rather than failing.
    """
    bucket_name, path = parse_gcs_source(source)
    target = os.path.join(gcs_cache_root(), bucket_name, urllib.parse.quote(path, safe="") or "_bucket_root")
    try:
        blobs, single = _list_objects(source)
    except ModelLoadError as error:
        cached = _read_manifest(target)
        if not cached or not unreachable(error.__cause__):
            raise
        warnings.warn(f"{error}; using the local copy made earlier in {target}", stacklevel=2)
        single = len(cached) == 1 and os.path.basename(path) in cached
        return os.path.join(target, next(iter(cached))) if single else target
    manifest = _manifest(blobs, path, single)
    if _read_manifest(target) != manifest:
        _download(blobs, manifest, target, source)
    return os.path.join(target, next(iter(manifest))) if single else target
