"""Hostile files and foreign runs thrown at a real `gemma-jax ui` by a logged-in user (issue 12, classes 5, 7, 1).

alice uploads a 40 KB xlsx that expands to one 40 MB cell and a file over the server's upload limit,
and asks for bob's run by URL. The server answers each in words, stays small and responsive, keeps no
oversize file, and shows nothing of bob's.
"""

from __future__ import annotations

import io
import random
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
from security_helpers import USERS, login, write_users

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))

from hostile_files import bomb_cell, xlsx

from ui.server_process import DashboardProcess

pytestmark = pytest.mark.slow
TIMEOUT = 90_000
UPLOAD_LIMIT_MB = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-ws")
    users = write_users(root.parent / f"{root.name}-users.json", USERS)
    process = DashboardProcess(
        root, extra_args=("--users-file", str(users), "--max-upload-mb", str(UPLOAD_LIMIT_MB))
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    login(page, server, "alice")
    yield page
    page.close()


def _server_rss_mb(server) -> float:
    return psutil.Process(server.process.pid).memory_info().rss / 2**20


def _upload(page, name: str, data: bytes) -> None:
    page.locator(".gj-nav").get_by_text("New run", exact=True).first.click()
    page.locator(".gj-newrun-upload input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}]
    )


def test_a_decompression_bomb_is_answered_in_words_and_the_server_stays_small(page, server, tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    xlsx([["prompt", "response"], ["PLACEHOLDER", "a"]], bomb_cell)(bomb, random.Random(0))
    assert bomb.stat().st_size < 200_000
    before = _server_rss_mb(server)
    _upload(page, "bomb.xlsx", bomb.read_bytes())
    error = page.locator(".gj-newrun-data-error, .gj-newrun-report").get_by_text("max_compression_ratio")
    error.first.wait_for(timeout=TIMEOUT)
    assert _server_rss_mb(server) - before < 300  # the check ran in a bounded child, not in the server
    assert requests.get(server.url + "login", timeout=10).status_code == 200  # still answering


def test_an_upload_over_the_limit_is_refused_while_it_streams(page, server):
    before = _server_rss_mb(server)
    big = io.BytesIO()
    big.write(b"prompt,response\n")
    big.write(b"q,a\n" * ((UPLOAD_LIMIT_MB + 3) * 2**20 // 4))
    _upload(page, "big.csv", big.getvalue())
    page.get_by_text(f"{UPLOAD_LIMIT_MB} MB").first.wait_for(timeout=TIMEOUT)
    deadline = time.monotonic() + 30
    uploads = server.root / "users" / "alice" / "uploads"
    while any(p.name.startswith("big") for p in uploads.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(p.name.startswith("big") for p in uploads.iterdir()), "the refused upload was kept"
    assert _server_rss_mb(server) - before < 100


def test_another_users_run_cannot_be_opened_by_url(page, server):
    bob_run = server.root / "users" / "bob" / "runs" / "bob-private-run"
    bob_run.mkdir(parents=True)
    (bob_run / "status.json").write_text('{"state": "completed", "step": 7, "error": "bob-secret-error"}')
    for run in ("bob-private-run", "../../bob/runs/bob-private-run", "%2e%2e%2f%2e%2e%2fbob%2fruns%2fbob-private-run"):
        page.goto(f"{server.url}?run={run}&page=Training")
        page.wait_for_selector("text=New run", timeout=TIMEOUT)
        page.wait_for_timeout(1500)
        text = page.evaluate("() => document.body.innerText")
        assert "bob-secret-error" not in text and str(server.root) not in text
