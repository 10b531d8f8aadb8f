"""One user's workspace: where their runs and uploads live, and safe names for uploaded files.

On localhost there is one workspace (the runs_dir given to `gemma-jax ui`); behind a login
each user gets `<root>/users/<user>/` so nobody sees another user's runs or uploads.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import unicodedata
from pathlib import Path

DEFAULT_MAX_UPLOAD_MB = 2048
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(ValueError):
    """An upload that is refused (too large, or no usable file name); the message says what to do."""


def safe_file_name(name: str) -> str:
    """A file name that stays inside the uploads folder: no directories, no '..', no control chars."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = unicodedata.normalize("NFKC", base)
    base = _UNSAFE.sub("-", base).strip("-.")
    if not base:
        raise UploadError(f"the file name {name!r} has no usable characters; rename the file and upload it again")
    return base[:120]


def safe_user_name(user: str) -> str:
    return _UNSAFE.sub("-", unicodedata.normalize("NFKC", str(user))).strip("-.")[:64] or "user"


@dataclasses.dataclass(frozen=True)
class Workspace:
    """The folders one dashboard user works in."""

    root: Path
    user: str | None = None
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB

    @classmethod
    def for_user(cls, root: str | Path, user: str | None, max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB) -> Workspace:
        """The shared workspace when `user` is None (no login), else that user's own."""
        root = Path(root)
        if user:
            root = root / "users" / safe_user_name(user)
        return cls(root=root, user=user, max_upload_mb=max_upload_mb)

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    def ensure(self) -> Workspace:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        return self

    def save_upload(self, name: str, data: bytes) -> Path:
        """Store an uploaded file under uploads/ with a sanitised, non-clobbering name."""
        if len(data) > self.max_upload_mb * 1024 * 1024:
            raise UploadError(
                f"{name} is {len(data) / 1e6:.0f} MB, over this dashboard's {self.max_upload_mb} MB upload limit; "
                "put the file on the server and give its path instead (or restart with a larger --max-upload-mb)"
            )
        target_name = safe_file_name(name)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        stem, dot, ext = target_name.rpartition(".")
        if not dot:
            stem, ext = target_name, ""
        with tempfile.NamedTemporaryFile(dir=self.uploads_dir, prefix=".upload-", delete=False) as part:
            tmp = Path(part.name)
        try:
            tmp.write_bytes(data)
            path, counter = self.uploads_dir / target_name, 2
            while True:  # os.link claims the name atomically: never overwrite an earlier or concurrent upload
                try:
                    os.link(tmp, path)
                    return path
                except FileExistsError:
                    path = self.uploads_dir / (f"{stem}-{counter}.{ext}" if ext else f"{stem}-{counter}")
                    counter += 1
        except OSError as err:
            raise UploadError(
                f"could not save {name} on the server ({err.strerror or err}); free some disk space "
                "or put the file on the server and give its path"
            ) from err
        finally:
            tmp.unlink(missing_ok=True)
