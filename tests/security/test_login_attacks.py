"""Attacks on the logins of a real `gemma-jax ui` (issue 12, classes 2, 3, 4, 8 and 9), over HTTP and in Chromium.

Every test here failed on the server as it was (Panel's basic auth): a typo in the users-file path
became the password, a broken file started a server that answered logins with 500, logout left the
cookie valid, guesses were unlimited, 李雷 and 韩梅梅 shared a workspace, and
`/components/tensorflow/...` imported TensorFlow into the server for anyone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import psutil
import pytest
import requests
from security_helpers import USERS, login, write_users

from ui.auth.credentials import PASSWORD_ENV
from ui.server_process import DashboardProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")]


def form_login(http: requests.Session, server: DashboardProcess, user: str, password: str) -> requests.Response:
    """Log in through the form as a browser does: fetch it (CSRF cookie and field), then post it."""
    page = http.get(server.url + "login", verify=False, timeout=30)
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    data = {"username": user, "password": password, "_csrf": csrf, "next": "/"}
    return http.post(server.url + "login", data=data, allow_redirects=False, verify=False, timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server on a users file this module may edit (alice, bob, 李雷, 韩梅梅)."""
    root = tmp_path_factory.mktemp("login-ws")
    users = write_users(root.parent / f"{root.name}-users.json", USERS | {"李雷": "li-lei-pw", "韩梅梅": "han-pw"})
    process = DashboardProcess(root, extra_args=("--users-file", str(users))).start()
    process.users_path = users
    yield process
    process.stop()


def test_anonymous_requests_reach_nothing_but_the_login_page(server):
    response = requests.get(server.url, allow_redirects=False, timeout=30)
    assert response.status_code == 302 and "login" in response.headers["Location"]
    assert requests.get(server.url + "login", timeout=30).status_code == 200


def test_the_components_route_imports_nothing_for_anyone(server):
    rss_before = psutil.Process(server.process.pid).memory_info().rss
    for path in ("tensorflow/a/b/c", "torch/nn/Module/_css/x", "os/path/sep/x", "antigravity/a/b/c", "json/a/b/c"):
        start = time.monotonic()
        response = requests.get(server.url + "components/" + path, timeout=30)
        assert response.status_code == 404 and time.monotonic() - start < 2.0, path
    grown_mb = (psutil.Process(server.process.pid).memory_info().rss - rss_before) / 2**20
    assert grown_mb < 60, f"the server grew by {grown_mb:.0f} MB"


def test_a_login_needs_the_forms_csrf_token(server):
    http = requests.Session()
    for data in ({"username": "alice", "password": USERS["alice"]},
                 {"username": "alice", "password": USERS["alice"], "_csrf": "forged"}):  # fmt: skip
        response = http.post(server.url + "login", data=data, allow_redirects=False, timeout=30)
        assert response.status_code == 403 and "gj_session" not in response.cookies


def test_logout_revokes_the_session_cookie(server):
    http = requests.Session()
    response = form_login(http, server, "alice", USERS["alice"])
    assert response.status_code == 302
    cookie = response.cookies["gj_session"]
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert http.get(server.url, allow_redirects=False, timeout=60).status_code == 200
    http.get(server.url + "logout", allow_redirects=False, timeout=30)
    replay = requests.get(server.url, cookies={"gj_session": cookie}, allow_redirects=False, timeout=30)
    assert replay.status_code == 302 and "login" in replay.headers["Location"]


def test_the_page_never_carries_the_session_cookie_and_a_forged_user_header_is_ignored(server):
    from bokeh.util.token import get_token_payload

    http = requests.Session()
    form_login(http, server, "alice", USERS["alice"])
    cookie = http.cookies["gj_session"]
    page = http.get(server.url, headers={"X-Gemma-Jax-User": "bob"}, timeout=60).text
    token = re.search(r'"token":\s*"([^"]+)"', page).group(1)
    payload = json.dumps(get_token_payload(token))
    assert cookie not in page and cookie not in payload
    assert '"alice"' in payload and '"bob"' not in payload  # the server says who the user is, not the client
    assert (server.root / "users" / "alice").is_dir() and not (server.root / "users" / "bob" / "runs").exists()


def test_a_self_made_session_token_cannot_name_another_user(server):
    """bob, logged in, mints a Bokeh session token whose headers say he is eve and opens the websocket."""
    import asyncio

    from bokeh.util.token import generate_jwt_token, generate_session_id
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    http = requests.Session()
    assert form_login(http, server, "bob", USERS["bob"]).status_code == 302
    forged = generate_jwt_token(
        generate_session_id(), signed=False, extra_payload={"headers": {"X-Gemma-Jax-User": "eve"}, "cookies": {}}
    )

    async def attempt():
        request = HTTPRequest(
            server.url.replace("http", "ws") + "ws",
            headers={"Cookie": f"gj_session={http.cookies['gj_session']}", "Origin": server.url.rstrip("/")},
        )
        try:
            connection = await websocket_connect(request, subprotocols=["bokeh", forged])
        except Exception:  # noqa: BLE001  (refused at the handshake: the attack failed)
            return None
        message = await asyncio.wait_for(connection.read_message(), 20)
        connection.close()
        return message

    asyncio.run(attempt())
    time.sleep(1.0)
    assert not (server.root / "users" / "eve").exists(), "a forged token opened eve's workspace"


def test_pages_cannot_be_framed(server):
    for path in ("", "login", "components/x/y/z/w"):
        headers = requests.get(server.url + path, allow_redirects=False, timeout=30).headers
        assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_logins_and_failures_are_audited_privately(server):
    http = requests.Session()
    assert form_login(http, server, "bob", "wrong").status_code == 401
    assert form_login(http, server, "bob", USERS["bob"]).status_code == 302
    path = server.root / "audit.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert {"action": "login_failed", "user": "bob", "client": "127.0.0.1"}.items() <= entries[-2].items()
    assert {"action": "login", "user": "bob"}.items() <= entries[-1].items()
    assert path.stat().st_mode & 0o077 == 0


def test_non_latin_names_get_their_own_private_workspaces(server):
    for user, password in (("李雷", "li-lei-pw"), ("韩梅梅", "han-pw")):
        http = requests.Session()
        assert form_login(http, server, user, password).status_code == 302
        assert http.get(server.url, timeout=60).status_code == 200  # the page builds the session's workspace
    owners = {p.read_text(): p.parent for p in (server.root / "users").glob("*/.owner")}
    assert owners["李雷"] != owners["韩梅梅"]
    for folder in owners.values():
        assert folder.stat().st_mode & 0o077 == 0, f"{folder} is readable by others"


def test_a_removed_user_loses_the_open_page_and_the_cookie(server, browser):
    page = browser.new_page()
    closed = []
    page.on("websocket", lambda ws: ws.on("close", lambda _ws: closed.append(time.monotonic())))
    login(page, server, "bob")
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "gj_session")
    write_users(server.users_path, {k: v for k, v in json.loads(server.users_path.read_text()).items() if k != "bob"})
    removed = time.monotonic()
    deadline = removed + 15
    while not closed and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert closed, "bob's websocket stayed open after he was removed from the users file"
    assert closed[0] - removed < 10
    replay = requests.get(server.url, cookies={"gj_session": cookie}, allow_redirects=False, timeout=30)
    assert replay.status_code == 302
    page.close()


def test_a_bad_login_setting_stops_the_start_with_a_message(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"alice": ')
    for args in (["--basic-auth", str(tmp_path / "typo" / "users.json")], ["--users-file", str(broken)],
                 ["--basic-auth", str(broken)]):  # fmt: skip
        port = free_port()
        command = [sys.executable, "-m", "gemma_jax.cli", "ui", "--runs-dir", str(tmp_path / "ws"), "--no-show",
                   "--port", str(port), *args]  # fmt: skip
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert "gemma-jax ui:" in done.stderr and "Traceback" not in done.stderr
        assert ("no such users file" in done.stderr) or ("not valid JSON" in done.stderr)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A server with one password from the environment, over HTTPS with a self-signed certificate."""
    root = tmp_path_factory.mktemp("tls-ws")
    cert, key = root.parent / f"{root.name}-cert.pem", root.parent / f"{root.name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    process = DashboardProcess(
        root, extra_args=("--ssl-certfile", str(cert), "--ssl-keyfile", str(key)), env={PASSWORD_ENV: "env-pass-77"}
    ).start()
    yield process
    process.stop()


def test_the_password_is_not_on_the_command_line_and_tls_cookies_are_secure(tls_server):
    cmdline = " ".join(psutil.Process(tls_server.process.pid).cmdline())
    assert "env-pass-77" not in cmdline and tls_server.url.startswith("https://")
    http = requests.Session()
    response = form_login(http, tls_server, "carol", "env-pass-77")
    assert response.status_code == 302 and "Secure" in response.headers["Set-Cookie"]
    headers = http.get(tls_server.url + "login", verify=False, timeout=30).headers
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_guessing_passwords_backs_off(tls_server):
    http = requests.Session()
    codes = [form_login(http, tls_server, "mallory", f"guess-{i}").status_code for i in range(12)]
    assert codes[:5] == [401] * 5 and set(codes[6:]) == {429}, codes
    refused = form_login(http, tls_server, "mallory", "env-pass-77")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1  # not even checked


def test_a_slow_request_head_is_cut_off_and_others_are_still_served(server):
    """Slowloris: headers trickled past the deadline get the connection closed; Tornado's default is an hour."""
    import socket

    from ui.serve import HEADER_TIMEOUT_S

    slow = socket.create_connection(("127.0.0.1", server.port), timeout=HEADER_TIMEOUT_S + 30)
    slow.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    for _ in range(int(HEADER_TIMEOUT_S) // 4):  # a header line every 4 s does not extend the deadline
        assert requests.get(server.url + "login", timeout=30).status_code == 200  # others are served meanwhile
        time.sleep(4)
        try:
            slow.sendall(b"X-Slow: 1\r\n")
        except OSError:
            break
    assert slow.recv(1024) == b""  # closed by the server
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 10
    slow.close()
