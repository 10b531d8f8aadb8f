"""What the security tests share: the users of the test servers and logging in through the form."""

from __future__ import annotations

import json
from pathlib import Path

from ui.server_process import DashboardProcess

USERS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}


def write_users(path: Path, users: dict[str, str]) -> Path:
    path.write_text(json.dumps(users), encoding="utf-8")
    return path


def login(page, server: DashboardProcess, user: str, password: str | None = None) -> None:
    """Log `page` in as `user` through the login form and wait for the dashboard to render."""
    page.goto(server.url + "login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", USERS[user] if password is None else password)
    page.press("input[name=password]", "Enter")
    page.wait_for_selector("text=New run", timeout=60_000)
