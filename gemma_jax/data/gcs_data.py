"""Data on Cloud Storage: a gs:// file, or every file under a gs:// prefix, read as a stream.

Line formats (JSONL, JSON, CSV/TSV, text) are read through the object's own buffered reader, chunk
by chunk, so a file of any size is never downloaded whole. Spreadsheets and Parquet need random
access, so they are copied to the cache first (checked against their size caps before that).
A prefix is its objects in name order (part-0000.jsonl, part-0001.jsonl, ...), one stream: every
problem still names the object it is in. Errors are DataErrors in the user's words.
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gemma_jax import cloud_storage
from gemma_jax.cloud_storage import CloudStorageError
from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.errors import DataError
from gemma_jax.data.formats import resolve_format
from gemma_jax.data.record_source import RecordSource

RANDOM_ACCESS_FORMATS = ("xlsx", "xls", "parquet")
_CHUNK_BYTES = 8 * 1024 * 1024  # one ranged read per chunk while streaming


@dataclass(frozen=True)
class _Stat:
    st_size: int


class GcsFile:
    """One gs:// object, answering the few questions readers ask a local `Path`."""

    def __init__(self, blob):
        self.blob = blob
        self.url = f"gs://{blob.bucket.name}/{blob.name}"
        self.name = PurePosixPath(blob.name).name
        self.suffix = PurePosixPath(blob.name).suffix

    def __str__(self) -> str:
        return self.url

    def exists(self) -> bool:
        return True

    def is_dir(self) -> bool:
        return False

    def is_file(self) -> bool:
        return True

    def stat(self) -> _Stat:
        return _Stat(int(self.blob.size or 0))

    def read_bytes(self) -> bytes:
        return self.blob.download_as_bytes(timeout=(cloud_storage.hub_timeout_s(), 120))

    def open(self, mode: str = "rb", encoding: str | None = None, newline: str | None = None, errors=None):
        """A streaming reader (ranged requests of _CHUNK_BYTES), in binary or text mode."""
        raw = self.blob.open("rb", chunk_size=_CHUNK_BYTES)
        if "b" in mode:
            return raw
        return io.TextIOWrapper(raw, encoding=encoding or "utf-8", errors=errors, newline=newline)


def data_files(url: str) -> list[GcsFile]:
    """The object `url`, or every object under the prefix `url/`, in name order (a DataError if none).
    Names starting with "_" or "." are bookkeeping (a dataset version's _manifest.json, Spark's _SUCCESS)."""
    try:
        blobs, _ = cloud_storage.list_objects(url, "read")
    except CloudStorageError as error:
        raise DataError(str(error), path=url) from error
    blobs = [b for b in blobs if not PurePosixPath(b.name).name.startswith(("_", "."))]  # _manifest.json, _SUCCESS
    if not blobs:
        raise DataError(
            f"Data not found: {url} is neither an object nor a folder with objects in it. Check the bucket and "
            "path (`gcloud storage ls` lists them), or upload the data first.",
            path=url,
        )
    return [GcsFile(blob) for blob in sorted(blobs, key=lambda b: b.name)]


def _local_copy(file: GcsFile) -> Path:
    """A cached copy of an object that needs random access, keyed by its generation (never stale)."""
    cap = limits.LIMITS.max_xls_bytes if file.suffix.lower() == ".xls" else limits.LIMITS.max_uncompressed_bytes
    if file.stat().st_size > cap:
        what = f"{file.url} is {limits.size_text(file.stat().st_size)}"
        raise DataError(limits.over_limit("max_uncompressed_bytes", what, "Split it, or save it as JSONL or CSV."))
    root = Path(os.environ.get("GEMMA_JAX_CACHE", Path.home() / ".cache" / "gemma_jax")) / "gcs-data"
    target = root / urllib.parse.quote(f"{file.url}@{file.blob.generation}", safe="") / file.name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as temp:
            try:
                file.blob.download_to_file(temp, timeout=(cloud_storage.hub_timeout_s(), 600))
            except Exception as error:  # google-api-core / requests errors
                os.unlink(temp.name)
                raise DataError(str(cloud_storage.user_error(error, file.url)), path=file.url) from error
        os.replace(temp.name, target)
    return target


OpenFile = Callable[[object, str, DataConfig], RecordSource]


def open_gcs(url: str, cfg: DataConfig, open_file: OpenFile) -> RecordSource:
    """All data at `url` as one RecordSource; `open_file(path, display, cfg)` opens one local-like file."""
    files = data_files(url)
    formats = {resolve_format(f.url, cfg.format) for f in files}
    if len(formats) > 1:
        raise DataError(
            f"{url} holds files of several formats ({', '.join(sorted(formats))}); keep one format under a prefix, "
            "or give one file",
            path=url,
        )

    def open_one(file: GcsFile) -> RecordSource:
        path = _local_copy(file) if formats & set(RANDOM_ACCESS_FORMATS) else file
        try:
            return open_file(path, file.url, cfg)
        except Exception as error:  # a storage error while the reader opens the stream
            if isinstance(error, DataError):
                raise
            raise DataError(str(cloud_storage.user_error(error, file.url)), path=file.url) from error

    first = open_one(files[0])
    if len(files) == 1:
        return first
    name = PurePosixPath(url.rstrip("/")).name
    combined = _PrefixSource(url, name, first.format, first.unit, first.columns, iter(()))

    def records() -> Iterator[tuple[int, dict]]:
        for index, file in enumerate(files):
            src = first if index == 0 else open_one(file)
            combined.current = file.url.removeprefix(url.rstrip("/") + "/")
            src.problems, src.found, src.listed_per_code = combined.problems, combined.found, combined.listed_per_code
            src.at = combined.at  # the reader's own problems name the object too
            combined.columns = src.columns or combined.columns
            yield from src.records
            combined.omitted += src.omitted

    combined.records = records()
    return combined


@dataclass
class _PrefixSource(RecordSource):
    """The objects under a prefix as one source; a place names the object it is in: "line 3 (in b.jsonl)"."""

    current: str = ""

    def at(self, number: int | None = None, column: str | int | None = None, detail: str = ""):
        return super().at(number, column, detail or f"(in {self.current})")


def content_digest(url: str, digest) -> None:
    """Feed each object's name and MD5 (kept by Cloud Storage) into `digest`: a content hash, no download."""
    for file in data_files(url):
        digest.update(file.blob.name.encode())
        digest.update(base64.b64decode(file.blob.md5_hash) if file.blob.md5_hash else str(file.blob.crc32c).encode())
