"""The Export page in Chromium: export a tiny run's adapter (the default) and download it through its link.

The link is plain HTTP from the server's download route: the browser saves the very file the
exporter wrote (size and SHA-256 checked), with its README and export.json inside.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from download_helpers import check_download, download_link, export_kind, open_export_page

sys.path.insert(0, str(Path(__file__).parents[2] / "serve"))

from tiny_runs import tiny_run

from ui.server_process import DashboardProcess

pytestmark = pytest.mark.slow


def test_the_adapter_is_exported_and_downloaded_through_its_link(browser, artifacts, tmp_path_factory, tmp_path):
    root = tmp_path / "workspace"
    run_dir = tiny_run(tmp_path_factory, runs_dir=root / "runs")
    server = DashboardProcess(root).start()  # one user on this machine: no login
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        open_export_page(page, server.url, run_dir.name)
        seen = export_kind(page, "adapter")
        assert not any("I0000" in text or "cuda" in text.lower() for text in seen), seen
        page.screenshot(path=artifacts / "export-download.png", full_page=True)
        where = page.locator(".gj-export-where").first.inner_text()
        folder = run_dir / "export" / "step-3-adapter"
        assert str(folder) in where  # one user: the export's real place on this machine
        saved = download_link(page, "adapter", tmp_path)
        check_download(saved, folder / "tiny-step-3-adapter.zip")
        assert not (run_dir / "export" / "step-3-keras").exists()  # the default is the adapter only
    finally:
        server.stop()
