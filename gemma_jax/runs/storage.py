"""How much storage a run's files take: a local folder or a gs:// prefix (e.g. its checkpoints)."""

from __future__ import annotations

import os

GCS_PREFIX = "gs://"


def storage_bytes(path: str | os.PathLike[str]) -> int:
    """Total bytes of the files under a local directory (0 when it does not exist yet) or under a
    `gs://bucket/prefix` (the object of that name, or every object under it as a folder).

    Symbolic links are not followed. Cloud Storage uses Application Default Credentials
    (STORAGE_EMULATOR_HOST points it at an emulator); its errors are raised as OSError.
    """
    text = os.fspath(path)
    if text.startswith(GCS_PREFIX):
        return _gcs_bytes(text)
    return _local_bytes(text)


def _local_bytes(root: str) -> int:
    if os.path.isfile(root):
        return os.lstat(root).st_size
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:  # removed while we walk (e.g. a checkpoint being rotated out)
                continue
    return total


def _gcs_bytes(url: str) -> int:
    bucket, _, prefix = url[len(GCS_PREFIX) :].partition("/")
    if not bucket:
        raise ValueError(f"{url!r} names no bucket; the form is gs://bucket/path")
    prefix = prefix.strip("/")
    from gemma_jax.cloud_storage import storage_client

    try:
        client = storage_client()
        # The object named `prefix` itself (a data file) or everything under it as a folder, not its
        # siblings that merely start alike ("ckpt/alpha" is not "ckpt/alphabet").
        blobs = client.list_blobs(bucket, prefix=prefix or None, timeout=30)
        under = f"{prefix}/"
        return sum(int(b.size or 0) for b in blobs if not prefix or b.name == prefix or b.name.startswith(under))
    except Exception as error:  # google-auth, google-api-core and requests errors
        raise OSError(f"cannot measure {url}: {type(error).__name__}: {error}") from error
