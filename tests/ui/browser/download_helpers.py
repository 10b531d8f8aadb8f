"""Downloading an export from the Export page the way a person does: click its link, get a file.

Shared by the browser tests (a tiny run here; a real model in the main workflow test): open the
Export page on a run, export a kind, click its `<a href download>` and check the saved file.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from gemma_jax.export.formats import FORMATS

EXPORT_TIMEOUT_MS = 300_000


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def open_export_page(page, server_url: str, run_id: str) -> None:
    page.goto(f"{server_url}?run={run_id}&page=Export")
    page.locator(".gj-export-run button").first.wait_for(timeout=120_000)


def export_kind(page, kind: str = "adapter", timeout_ms: int = EXPORT_TIMEOUT_MS) -> list[str]:
    """Choose `kind` (adapter, keras, both: the adapter is selected already) and press Export; returns the
    progress texts seen until its link appears (the page shows the export's own progress lines, never a
    library's log)."""
    buttons = page.locator(".gj-export-kind")
    if kind in ("keras", "both"):
        buttons.get_by_text(FORMATS["keras"].label).first.click()
    if kind == "keras":
        buttons.get_by_text(FORMATS["adapter"].label).first.click()  # toggled off
    page.locator(".gj-export-run button").click()
    seen: list[str] = []
    wanted = "keras" if kind == "keras" else "adapter"
    link = page.locator(f"a.gj-export-download-{wanted}")
    for _ in range(timeout_ms // 250):
        text = page.locator(".gj-export-progress").first.inner_text()
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if link.count() and link.first.is_visible():
            return seen
        error = page.locator(".gj-export-error")
        if error.count() and error.first.is_visible() and error.first.inner_text().strip():
            raise AssertionError(f"the export failed: {error.first.inner_text()}")
        page.wait_for_timeout(250)
    raise AssertionError(f"no {kind} download link after {timeout_ms / 1000:.0f} s; progress seen: {seen}")


def download_link(page, kind: str, save_to: Path, timeout_ms: int = EXPORT_TIMEOUT_MS) -> Path:
    """Click the `kind` export's download link; the file the browser saved, moved to `save_to`."""
    with page.expect_download(timeout=timeout_ms) as info:
        page.locator(f"a.gj-export-download-{kind}").first.click()
    download = info.value
    assert download.failure() is None, download.failure()
    target = save_to / download.suggested_filename
    download.save_as(target)
    return target


def check_download(saved: Path, on_server: Path) -> None:
    """The browser's file is the server's export, byte for byte, and a whole zip with its README and manifest."""
    assert saved.name == on_server.name
    assert saved.stat().st_size == on_server.stat().st_size
    assert sha256_file(saved) == sha256_file(on_server)
    with zipfile.ZipFile(saved) as bundle:
        assert bundle.testzip() is None
        names = {Path(name).name for name in bundle.namelist()}
    assert {"README.md", "export.json", "config.yaml"} <= names
