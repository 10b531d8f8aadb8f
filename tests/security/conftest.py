"""A real `gemma-jax ui` behind a login (a JSON users file), attacked as its users and as nobody.

The attacks go through the same doors a person has: HTTP on the loopback port and Chromium
(Playwright, Debian's /usr/bin/chromium). `security_helpers.login(page, server, user)` fills the login form.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from security_helpers import USERS, write_users

from ui.server_process import DashboardProcess


@pytest.fixture(scope="module")
def users_file(tmp_path_factory) -> Path:
    return write_users(tmp_path_factory.mktemp("auth") / "users.json", USERS)


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory, users_file):
    """`gemma-jax ui --basic-auth users.json` on a free loopback port, one per test module."""
    root = tmp_path_factory.mktemp("secure-ws")
    server = DashboardProcess(root, extra_args=("--basic-auth", str(users_file))).start()
    yield server
    server.stop()
