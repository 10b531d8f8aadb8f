"""Copy a model from Google Cloud Storage into a local cache: `gs://bucket/path`.

`path` may be one object (a .gguf file) or a folder (a Keras preset or a
Hugging Face checkpoint); the local copy then loads like any local path. The
copy lives in $GEMMA_JAX_CACHE/gcs (default ~/.cache/gemma_jax/gcs), one
folder per gs:// path, with a manifest of object generations: an unchanged
model is not downloaded again, a changed one is. Downloads go to a temporary
folder that is renamed into place, so a killed download never looks complete.

Credentials are Application Default Credentials; STORAGE_EMULATOR_HOST points
google-cloud-storage at an emulator (no credentials then). Metadata requests
get a short timeout and are not retried when the host is unreachable, since
the library's default retries for 120 s.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.parse
import warnings

from gemma_jax.cloud_storage import storage_client
from gemma_jax.models.sources.connectivity import hub_timeout_s
from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.models.sources.kinds import GCS_PREFIX

MANIFEST = ".gcs_manifest.json"
CREDENTIALS_ADVICE = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account "
    "key file (on Google Cloud VMs and TPU VMs the VM's service account is used)"
)
_UNREACHABLE_MARKERS = (
    "NameResolutionError",
    "Failed to resolve",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Connection refused",
    "Network is unreachable",
    "ConnectTimeout",
    "ReadTimeout",
    "Read timed out",
)


def gcs_cache_root() -> str:
    """$GEMMA_JAX_CACHE/gcs, default ~/.cache/gemma_jax/gcs."""
    root = os.environ.get("GEMMA_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "gemma_jax"))
    return os.path.join(root, "gcs")


def parse_gcs_source(source: str) -> tuple[str, str]:
    """(bucket, object path without surrounding slashes) of a gs:// source."""
    bucket, _, path = source[len(GCS_PREFIX) :].partition("/")
    if not bucket:
        raise ModelLoadError(f"'{source}' names no bucket; the form is gs://bucket/path/to/model")
    return bucket, path.strip("/")


def _unreachable(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 8:
        text = f"{type(error).__name__}: {error}"
        if any(marker in text for marker in _UNREACHABLE_MARKERS):
            return True
        inner = error.args[0] if error.args and isinstance(error.args[0], BaseException) else None
        error, seen = inner or error.__cause__ or error.__context__, seen + 1
    return False


def _metadata_retry():
    """Retry transient server errors briefly, but not a host that cannot be reached."""
    from google.api_core.retry import Retry, if_transient_error

    return Retry(predicate=lambda e: if_transient_error(e) and not _unreachable(e), timeout=3 * hub_timeout_s())


def _client(source: str):
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return storage_client()
    except DefaultCredentialsError as error:
        raise ModelLoadError(
            f"cannot load '{source}': no usable Google Cloud credentials ({error}); {CREDENTIALS_ADVICE}"
        ) from error


def _error(error: Exception, source: str) -> ModelLoadError:
    from google.api_core import exceptions as api
    from google.api_core.exceptions import RetryError
    from google.auth.exceptions import RefreshError

    if isinstance(error, RefreshError):
        return ModelLoadError(
            f"Google Cloud rejected the credentials while loading '{source}' ({error}); {CREDENTIALS_ADVICE}"
        )
    if isinstance(error, (api.Forbidden, api.Unauthorized)):
        return ModelLoadError(
            f"no permission to read '{source}' ({error.message}); give the account roles/storage.objectViewer on the "
            f"bucket, or {CREDENTIALS_ADVICE}"
        )
    if isinstance(error, api.NotFound):
        return ModelLoadError(f"'{source}': the bucket does not exist ({error.message}); check the bucket name")
    cause = error.cause if isinstance(error, RetryError) else error
    if _unreachable(error) or isinstance(error, RetryError):
        return ModelLoadError(
            f"cannot load '{source}': Cloud Storage cannot be reached ({type(cause).__name__}: {str(cause)[:200]}); "
            "check the network, or copy the model to a local directory and give that path"
        )
    return ModelLoadError(f"reading '{source}' from Cloud Storage failed ({type(error).__name__}: {error})")


def _list_objects(client, bucket_name: str, path: str, source: str) -> tuple[list, bool]:
    """The blobs of the model and whether `path` is a single object."""
    timeout, retry = hub_timeout_s(), _metadata_retry()
    try:
        bucket = client.bucket(bucket_name)
        single = bucket.get_blob(path, timeout=timeout, retry=retry) if path else None
        if single is not None and not single.name.endswith("/"):
            return [single], True
        prefix = f"{path}/" if path else ""
        blobs = [
            b
            for b in client.list_blobs(bucket_name, prefix=prefix, timeout=timeout, retry=retry)
            if not b.name.endswith("/")
        ]
    except ModelLoadError:
        raise
    except Exception as error:  # google-api-core, google-auth and requests types
        raise _error(error, source) from error
    if not blobs:
        raise ModelLoadError(
            f"'{source}' holds nothing: no object and no folder of that name; give the folder of a Keras preset or "
            "Hugging Face checkpoint, or a .gguf file"
        )
    return blobs, False


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
        blobs, single = _list_objects(_client(source), bucket_name, path, source)
    except ModelLoadError as error:
        cached = _read_manifest(target)
        if not cached or not _unreachable(error.__cause__):
            raise
        warnings.warn(f"{error}; using the local copy made earlier in {target}", stacklevel=2)
        single = len(cached) == 1 and os.path.basename(path) in cached
        return os.path.join(target, next(iter(cached))) if single else target
    manifest = _manifest(blobs, path, single)
    if _read_manifest(target) != manifest:
        _download(blobs, manifest, target, source)
    return os.path.join(target, next(iter(manifest))) if single else target
