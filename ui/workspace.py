"""One user's workspace: where their runs and uploads live, and safe names for uploaded files.

On localhost there is one workspace (the runs_dir given to `gemma-jax ui`); behind a login
each user gets `<root>/users/<user>/` so nobody sees another user's runs or uploads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import NoReturn

DEFAULT_MAX_UPLOAD_MB = 2048
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_UNSAFE_IN_NAME = re.compile(r"[^\w.-]+")  # \w: Unicode letters and digits, and '_'
_UNSAFE_IN_EXTENSION = re.compile(r"\W+")
_MAX_NAME_BYTES = 120  # with room for a "-2" and far below any file system's 255
_MAX_EXTENSION_CHARS = 16
_MB = 1024 * 1024


class UploadError(ValueError):
    """An upload that is refused (too large, or no usable file name); the message says what to do."""


def safe_file_name(name: str) -> str:
    """A file name that stays inside the uploads folder: the last path part only, Unicode letters and
    digits kept (`データ.csv` keeps its stem and extension), any other run of characters (spaces, control
    characters, line breaks) a '-', no leading dot (no hidden names, no '..'), at most 120 bytes."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", str(name)))[-1]
    stem, ext = os.path.splitext(base)
    ext = _UNSAFE_IN_EXTENSION.sub("", ext)[:_MAX_EXTENSION_CHARS]
    stem = _UNSAFE_IN_NAME.sub("-", stem).strip("-.")
    if not stem and not ext:
        raise UploadError(f"the file name {name!r} has no usable characters; rename the file and upload it again")
    suffix = f".{ext}" if ext else ""
    room = _MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip("-.") or "upload"
    return stem + suffix


def _not_saved(name: str, err: OSError) -> UploadError:
    return UploadError(
        f"could not save {name} on the server ({err.strerror or err}); free some disk space "
        "or put the file on the server and give its path"
    )


class UploadWriter:
    """One upload written to disk chunk by chunk as it arrives, so it is never held whole in memory.

    The chunk that takes it over the limit deletes the partial file and refuses the upload; `finish()`
    gives the file its safe name without overwriting an earlier upload. `error` says why it was refused
    (also an unusable name, known before any chunk is written).
    """

    def __init__(self, folder: Path, name: str, limit_mb: int) -> None:
        self.name = name
        self.size = 0
        self.error: UploadError | None = None
        self._limit_mb = limit_mb
        self._folder = folder
        self._file = None
        try:
            self._target = safe_file_name(name)
            folder.mkdir(parents=True, exist_ok=True)
            fd, part = tempfile.mkstemp(dir=folder, prefix=".upload-")
        except UploadError as err:
            self.error = err
            return
        except OSError as err:
            self.error = _not_saved(name, err)
            return
        self._part = Path(part)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        """Append `chunk`; raises UploadError, with the partial file deleted, over the limit or on a disk error."""
        if self.error is not None:
            raise self.error
        self.size += len(chunk)
        if self.size > self._limit_mb * _MB:
            self._refuse(
                UploadError(
                    f"{self.name} is over this dashboard's {self._limit_mb} MB upload limit; put the file on the "
                    "server and give its path instead (or restart with a larger --max-upload-mb)"
                )
            )
        try:
            self._file.write(chunk)
        except OSError as err:
            self._refuse(_not_saved(self.name, err))

    def finish(self) -> Path:
        """The saved file under uploads/; raises the UploadError that refused it."""
        if self.error is not None:
            raise self.error
        stem, ext = os.path.splitext(self._target)
        try:
            self._file.close()
            path, counter = self._folder / self._target, 2
            while True:  # os.link claims the name atomically: never overwrite an earlier or concurrent upload
                try:
                    os.link(self._part, path)
                    return path
                except FileExistsError:
                    path = self._folder / f"{stem}-{counter}{ext}"
                    counter += 1
        except OSError as err:
            self.error = _not_saved(self.name, err)
            raise self.error from err
        finally:
            self._file = None
            self._part.unlink(missing_ok=True)

    def discard(self) -> None:
        """Delete the partial file of an upload that will not be finished (refused, abandoned, replaced)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._part.unlink(missing_ok=True)

    def _refuse(self, error: UploadError) -> NoReturn:
        self.discard()
        self.error = error
        raise error


_PLAIN_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
OWNER_FILE = ".owner"


class WorkspaceError(ValueError):
    """A user's workspace cannot be used (its folder belongs to another name); the message says why."""


def safe_user_name(user: str) -> str:
    """The folder name of a user's workspace: unique per user name, and never a path.

    Plain names (`alice`, `john.doe`) are their own folder, as before. Any other name keeps its
    ASCII letters as a readable stem and gets `+` and 12 hex digits of the SHA-256 of its NFC form
    (`José` -> `Jos+…`, `李雷` -> `user+…`), so two names never share a folder ('+' never occurs in
    a plain name) and the `.owner` file in the folder says whose it is.
    """
    name = unicodedata.normalize("NFC", str(user))
    if _PLAIN_USER.fullmatch(name) and ".." not in name:
        return name
    stem = _UNSAFE.sub("-", name).strip("-.")[:40] or "user"
    return f"{stem}+{hashlib.sha256(name.encode('utf-8')).hexdigest()[:12]}"


def claim_user_folder(folder: Path, user: str) -> None:
    """Mark `folder` as `user`'s workspace, or refuse it when it is marked as someone else's."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    owner = folder / OWNER_FILE
    name = unicodedata.normalize("NFC", str(user))
    try:
        fd = os.open(owner, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if owner.read_text(encoding="utf-8") != name:
            raise WorkspaceError(
                "this user name maps to a workspace folder that belongs to another user; ask the administrator "
                "to give you a different user name"
            ) from None
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(name)


@dataclasses.dataclass(frozen=True)
class Workspace:
    """The folders one dashboard user works in."""

    root: Path
    user: str | None = None
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    allowed: tuple[str, ...] = ()  # folders and gs:// prefixes the admin lets every user read (--allow-path)

    @classmethod
    def for_user(
        cls,
        root: str | Path,
        user: str | None,
        max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
        allowed: tuple[str, ...] = (),
    ) -> Workspace:
        """The shared workspace when `user` is None (no login), else that user's own."""
        root = Path(root)
        if user:
            root = root / "users" / safe_user_name(user)
        return cls(root=root, user=user, max_upload_mb=max_upload_mb, allowed=tuple(allowed))

    @property
    def confined(self) -> bool:
        """True behind a login: every path the user names must stay in this workspace or `allowed`."""
        return self.user is not None

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    def ensure(self) -> Workspace:
        """Create the folders private to the server's account (0700): other accounts on the machine
        read no run or upload. A logged-in user's folders are made private even when they exist."""
        for folder in (self.root, self.runs_dir, self.uploads_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.confined:
                folder.chmod(0o700)
        return self

    def save_upload(self, name: str, data: bytes) -> Path:
        """Store a whole uploaded file under uploads/ (the dashboard streams into `open_upload` instead)."""
        upload = self.open_upload(name)
        upload.write(data)
        return upload.finish()

    def open_upload(self, name: str) -> UploadWriter:
        """A writer streaming one upload into uploads/ under a sanitised, non-clobbering name."""
        return UploadWriter(self.uploads_dir, name, self.max_upload_mb)
