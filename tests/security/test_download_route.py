"""The export download route of a real `gemma-jax ui --basic-auth users.json`, over plain HTTP.

A logged-in user gets their own export, byte for byte and streamed (the server does not grow by the
file's size); nobody else gets it, and no link reaches outside the user's runs' export folders:
`..`, absolute paths, hidden (half-written) exports, symlinks out and other users' runs are all 404,
the same answer as a missing file, and none names a server path.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import threading
from pathlib import Path

import psutil
import pytest
import requests
from security_helpers import USERS

from ui.server_process import DashboardProcess

pytestmark = pytest.mark.slow
ARCHIVE = "done-step-1-adapter.zip"
STREAMED_MB = 300


def form_login(server: DashboardProcess, user: str) -> requests.Session:
    """A requests session logged in through the form (CSRF cookie and field), its workspace built."""
    http = requests.Session()
    page = http.get(server.url + "login", timeout=30)
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    data = {"username": user, "password": USERS[user], "_csrf": csrf, "next": "/"}
    assert http.post(server.url + "login", data=data, allow_redirects=False, timeout=30).status_code == 302
    assert http.get(server.url, timeout=60).status_code == 200  # the page claims the user's workspace
    return http


def place_export(server: DashboardProcess, user: str, run: str, data: bytes) -> Path:
    """An export zip as the exporter leaves it, in `user`'s run `run` (the route needs no real model)."""
    folder = server.root / "users" / user / "runs" / run / "export" / "step-1-adapter"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ARCHIVE).write_bytes(data)
    (folder / "export.json").write_text('{"step": 1, "kind": "adapter"}')
    return folder / ARCHIVE


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def alice(secure_server):
    return form_login(secure_server, "alice")


@pytest.fixture(scope="module")
def files(secure_server, alice):
    form_login(secure_server, "bob")
    alice_zip = place_export(secure_server, "alice", "done", os.urandom(3 * 1024 * 1024 + 17))
    bob_zip = place_export(secure_server, "bob", "bobs-run", b"bob's adapter")
    exports = alice_zip.parent.parent
    (exports / "step-2-adapter").symlink_to(bob_zip.parent)  # a link out to bob's export
    (exports / "step-1-adapter" / "bob.zip").symlink_to(bob_zip)
    (exports / ".step-3-adapter.x.part").mkdir()
    (exports / ".step-3-adapter.x.part" / ARCHIVE).write_bytes(b"half")
    return {"alice": alice_zip, "bob": bob_zip}


def test_a_logged_in_user_downloads_their_export_byte_for_byte(secure_server, alice, files):
    response = alice.get(secure_server.url + f"downloads/done/step-1-adapter/{ARCHIVE}", timeout=60)
    expected = files["alice"].read_bytes()
    assert response.status_code == 200 and sha256(response.content) == sha256(expected)
    assert response.headers["Content-Length"] == str(len(expected))
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"].startswith(f'attachment; filename="{ARCHIVE}"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    readme = alice.get(secure_server.url + "downloads/done/step-1-adapter/export.json", timeout=30)
    assert readme.status_code == 200 and readme.headers["Content-Type"] == "application/json"


def test_nobody_else_gets_it(secure_server, files):
    url = secure_server.url + f"downloads/done/step-1-adapter/{ARCHIVE}"
    anonymous = requests.get(url, allow_redirects=False, timeout=30)
    assert anonymous.status_code in (302, 401)
    if anonymous.status_code == 302:  # to the login page, which brings the user back to the file
        assert anonymous.headers["Location"].startswith("/login?next=%2Fdownloads%2Fdone")
    forged = requests.get(
        url, cookies={"gj_session": "forged"}, headers={"X-Gemma-Jax-User": "alice"}, allow_redirects=False, timeout=30
    )
    assert forged.status_code in (302, 401) and not forged.content.startswith(b"PK")
    bob = form_login(secure_server, "bob")
    assert bob.get(url, timeout=30).status_code == 404  # bob has no run "done": his workspace is asked
    own = bob.get(secure_server.url + f"downloads/bobs-run/step-1-adapter/{ARCHIVE}", timeout=30)
    assert own.status_code == 200 and own.content == b"bob's adapter"


@pytest.mark.parametrize(
    "path",
    [
        f"downloads/bobs-run/step-1-adapter/{ARCHIVE}",  # bob's run, asked for in alice's workspace
        f"downloads/%2e%2e/users/bob/runs/bobs-run/export/step-1-adapter/{ARCHIVE}",
        f"downloads/done/step-1-adapter/%2e%2e/%2e%2e/%2e%2e/%2e%2e/bob/runs/bobs-run/export/step-1-adapter/{ARCHIVE}",
        "downloads/done/%2Fetc%2Fpasswd",
        "downloads/done//etc/passwd",
        "downloads/%2Fetc/passwd",
        f"downloads/done/step-2-adapter/{ARCHIVE}",  # a symlinked export folder leading to bob's
        "downloads/done/step-1-adapter/bob.zip",  # a symlinked file leading to bob's
        f"downloads/done/.step-3-adapter.x.part/{ARCHIVE}",  # an export still being written
        "downloads/done/step-1-adapter",  # a folder
        "downloads/done/step-1-adapter/missing.zip",
        "downloads/done/config.yaml",  # not in an export folder
    ],
)
def test_nothing_outside_the_users_export_folders_is_served(secure_server, alice, files, path):
    response = alice.get(secure_server.url + path, timeout=30)
    assert response.status_code == 404, path
    assert str(secure_server.root) not in response.text and "bob's adapter" not in response.text


def test_dot_segments_sent_raw_are_refused_too(secure_server, alice, files):
    """Clients normalise `..` away; a hand-made request sends it as is."""
    connection = http.client.HTTPConnection("127.0.0.1", secure_server.port, timeout=30)
    cookie = "; ".join(f"{name}={value}" for name, value in alice.cookies.items())
    path = f"/downloads/done/step-1-adapter/../../../../bob/runs/bobs-run/export/step-1-adapter/{ARCHIVE}"
    connection.request("GET", path, headers={"Cookie": cookie})
    response = connection.getresponse()
    assert response.status == 404 and b"bob's adapter" not in response.read()
    connection.close()


def test_a_large_file_is_streamed_without_the_server_holding_it(secure_server, alice, files):
    big = files["alice"].parent / "big.zip"
    with open(big, "wb") as handle:  # sparse: costs no disk, reads as zeros
        handle.truncate(STREAMED_MB * 1024 * 1024)
    server = psutil.Process(secure_server.process.pid)
    before = server.memory_info().rss
    peak, stop = [before], threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak.append(server.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    digest, received = hashlib.sha256(), 0
    try:
        with alice.get(
            secure_server.url + "downloads/done/step-1-adapter/big.zip", stream=True, timeout=60
        ) as response:
            assert response.status_code == 200
            assert response.headers["Content-Length"] == str(STREAMED_MB * 1024 * 1024)
            for chunk in response.iter_content(1024 * 1024):
                digest.update(chunk)
                received += len(chunk)
    finally:
        stop.set()
        sampler.join()
        big.unlink()
    assert received == STREAMED_MB * 1024 * 1024
    assert digest.hexdigest() == hashlib.sha256(bytes(STREAMED_MB * 1024 * 1024)).hexdigest()
    grown_mb = (max(peak) - before) / 2**20
    assert grown_mb < 64, f"the server grew by {grown_mb:.0f} MB while sending a {STREAMED_MB} MB file"
