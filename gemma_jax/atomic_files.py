"""Replace a file so that a reader in another process sees the old file or the new one, never half.

A leaf module (no gemma_jax import): the config writer and the run directory's files share it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def atomic_writer(path: Path, durable: bool = True) -> Iterator[TextIO]:
    """A text file to write `path` through: a temp file in the same directory, fsynced and
    `os.replace`d on success, removed on error, so readers see the old file or the new one, never half.

    durable=False skips the fsync: still atomic for readers, but a power cut may bring back the
    previous file. For progress written every step, where the next write follows in a second.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Replace `path` with `text` atomically (see atomic_writer)."""
    with atomic_writer(path, durable) as f:
        f.write(text)
