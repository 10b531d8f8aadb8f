"""Immutable dataset versions on Cloud Storage: upload once, train from the version, never overwrite.

A version of dataset NAME lives at `gs://bucket/prefix/NAME/v-<first 16 hex of sha256>/`: the data
file under its own name, then `_manifest.json` (name, file, bytes, sha256, examples, time, who
uploaded it). The manifest is written last, with a create-only precondition, and only folders with a
manifest are versions: an upload killed half way leaves nothing listed (the next push of the same
bytes overwrites the leftover), and no one can replace a version's bytes. The same bytes pushed
twice are the same version. Train from it with `data.train_path: gs://bucket/prefix/NAME/v-...`: the
data readers skip names starting with "_".
"""

from __future__ import annotations

import getpass
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from gemma_jax import cloud_storage
from gemma_jax.cloud_storage import CloudStorageError
from gemma_jax.data.errors import DataError

MANIFEST = "_manifest.json"
VERSION_PREFIX = "v-"
_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    version: str
    file: str
    bytes: int
    sha256: str
    created: float
    uploaded_by: str
    url: str  # what data.train_path takes


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _dataset_url(root: str, name: str) -> str:
    if not name or "/" in name or name.startswith((".", "_")):
        raise DataError(f"dataset name {name!r} is not usable: give a name without '/' that starts with a letter")
    return f"{root.rstrip('/')}/{name}"


def push(path: str | Path, root: str, name: str | None = None) -> DatasetVersion:
    """Upload the data file `path` as a new version of dataset `name` (default: the file's stem) under `root`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path} is not a data file; give the path of the file to upload", path=str(path))
    dataset = _dataset_url(root, name or path.stem)
    sha = file_sha256(path)
    version = f"{VERSION_PREFIX}{sha[:16]}"
    url = f"{dataset}/{version}"
    bucket_name, folder = cloud_storage.parse_url(url)
    try:
        bucket = cloud_storage.client_for(url, "write to").bucket(bucket_name)
        existing = bucket.get_blob(f"{folder}/{MANIFEST}")
        if existing is not None:  # the same bytes were pushed before: that version
            return _from_manifest(json.loads(existing.download_as_bytes()), dataset)
        bucket.blob(f"{folder}/{path.name}").upload_from_filename(str(path))
        record = DatasetVersion(
            name=Path(dataset).name,
            version=version,
            file=path.name,
            bytes=path.stat().st_size,
            sha256=sha,
            created=round(time.time(), 3),
            uploaded_by=getpass.getuser(),
            url=url,
        )
        manifest = {k: v for k, v in asdict(record).items() if k != "url"}
        _write_manifest(bucket, folder, manifest)
    except Exception as error:  # google-api-core, google-auth and requests types
        from google.api_core.exceptions import PreconditionFailed

        if isinstance(error, PreconditionFailed):  # someone pushed the same bytes at the same moment
            return next(v for v in versions(root, Path(dataset).name) if v.version == version)
        raise DataError(str(cloud_storage.user_error(error, url, "write to", "roles/storage.objectCreator"))) from error
    return record


def _write_manifest(bucket, folder: str, manifest: dict) -> None:
    """Last, and only if absent: its presence is what makes the version exist."""
    bucket.blob(f"{folder}/{MANIFEST}").upload_from_string(
        json.dumps(manifest, indent=2), content_type="application/json", if_generation_match=0
    )


def _from_manifest(manifest: dict, dataset: str) -> DatasetVersion:
    fields = {k: manifest[k] for k in DatasetVersion.__dataclass_fields__ if k != "url"}
    return DatasetVersion(**fields, url=f"{dataset}/{manifest['version']}")


def versions(root: str, name: str) -> list[DatasetVersion]:
    """The complete versions of dataset `name` under `root`, oldest first (half-uploaded ones are not listed)."""
    dataset = _dataset_url(root, name)
    bucket_name, folder = cloud_storage.parse_url(dataset)
    try:
        client = cloud_storage.client_for(dataset, "list")
        found = []
        for blob in client.list_blobs(bucket_name, prefix=f"{folder}/{VERSION_PREFIX}"):
            if blob.name.endswith(f"/{MANIFEST}") and blob.name.count("/") == folder.count("/") + 2:
                found.append(_from_manifest(json.loads(blob.download_as_bytes()), dataset))
    except CloudStorageError as error:
        raise DataError(str(error)) from error
    except Exception as error:  # google-api-core, google-auth and requests types
        raise DataError(str(cloud_storage.user_error(error, dataset, "list"))) from error
    return sorted(found, key=lambda v: v.created)
