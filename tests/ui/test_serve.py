"""`gemma-jax ui`: option checks, per-user workspaces, the CPU-only server process, and a real server start."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from ui_helpers import make_run

from gemma_jax.cli import build_parser
from gemma_jax.jobs import JobRunner
from ui.serve import DashboardServer, default_origins, exposure_error, is_local_address, main


def test_an_exposed_address_needs_a_login():
    assert is_local_address("127.0.0.1") and is_local_address("localhost") and is_local_address("::1")
    assert not is_local_address("0.0.0.0") and not is_local_address("10.0.0.5") and not is_local_address("")
    assert exposure_error("127.0.0.1", login=False, allow_unauthenticated=False) is None
    assert "--basic-auth" in exposure_error("0.0.0.0", login=False, allow_unauthenticated=False)
    assert exposure_error("0.0.0.0", login=True, allow_unauthenticated=False) is None
    assert exposure_error("0.0.0.0", login=False, allow_unauthenticated=True) is None
    assert main(build_parser().parse_args(["ui", "--address", "0.0.0.0", "--no-show"])) == 2
    args = build_parser().parse_args(["ui", "--oauth-provider", "github", "--no-show"])
    assert main(args) == 2  # no key and secret


def test_options_and_defaults():
    args = build_parser().parse_args(["ui", "--no-show", "--allow-websocket-origin", "a.example:80"])
    assert (args.runs_dir, args.port, args.address, args.show) == ("gemma-jax-workspace", 5006, "127.0.0.1", False)
    assert args.allow_websocket_origin == ["a.example:80"]
    assert default_origins("127.0.0.1", 80) == ["localhost:80", "127.0.0.1:80"]
    assert default_origins("10.0.0.5", 80)[:3] == ["localhost:80", "127.0.0.1:80", "10.0.0.5:80"]
    assert f"{socket.gethostname()}:80" in default_origins("0.0.0.0", 80)
    assert "0.0.0.0:80" not in default_origins("0.0.0.0", 80)


def test_each_signed_in_user_gets_a_workspace_the_runner_watches(tmp_path):
    runner = JobRunner([], poll_s=60)
    server = DashboardServer(tmp_path, runner, login=True, max_upload_mb=5)
    alice = server.session("alice")
    assert alice.workspace.runs_dir == tmp_path / "users" / "alice" / "runs"
    assert alice.workspace.max_upload_mb == 5 and alice.runner is runner
    run = make_run(alice, "queued-run")
    run.update_status(launcher="runner", queued_time=time.time())
    assert runner.queue() == [str(run.path.resolve())]
    assert server.session("bob").workspace.root != alice.workspace.root
    shared = DashboardServer(tmp_path, runner, login=False).session("alice")
    assert shared.workspace.runs_dir == tmp_path / "runs"  # no login: one workspace


def test_the_server_process_is_cpu_only_and_jobs_keep_the_original_environment():
    code = (
        "import os; os.environ['JAX_PLATFORMS'] = 'tpu'\n"
        "import gemma_jax.cli\n"
        "from ui.serve import cpu_only_environment\n"
        "env = cpu_only_environment(); print(env['JAX_PLATFORMS'], os.environ['JAX_PLATFORMS'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["tpu", "cpu"]


class Served:
    """`gemma-jax ui` in a child process on a free port, as a user starts it."""

    def __init__(self, tmp_path, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        self.root = tmp_path / "ws"
        self.log_path = tmp_path / "server.log"
        command = [sys.executable, "-m", "gemma_jax.cli", "ui", "--runs-dir", str(self.root), "--port", "0"]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [*command, "--no-show", *extra], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            for line in self.log_path.read_text().splitlines():
                if line.startswith("gemma-jax dashboard: "):
                    port = line.split()[2].rstrip("/").rsplit(":", 1)[1]
                    return f"http://127.0.0.1:{port}/"
            time.sleep(0.2)
        raise AssertionError(self.log_path.read_text())

    def get(self, path: str = "", data: bytes | None = None, opener=None):
        """The response once the server answers (it binds a moment after printing its URL)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                return (opener or urllib.request.build_opener()).open(self.url + path, data=data, timeout=10)
            except urllib.error.URLError as err:
                if isinstance(err, urllib.error.HTTPError) or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


def test_serves_the_dashboard_and_stops_on_sigterm(tmp_path):
    server = Served(tmp_path)
    try:
        with server.get() as response:  # builds a session: the app must construct
            assert response.status == 200 and "gemma-jax" in response.read().decode()
    finally:
        assert server.stop() == 0
    text = server.log_path.read_text()
    assert "Traceback" not in text and "ERROR" not in text, text
    assert (server.root / "runs").is_dir()


def test_a_login_gives_each_user_their_own_workspace(tmp_path):
    import re

    import requests

    server = Served(tmp_path, "--address", "0.0.0.0", "--basic-auth", "pw-123")
    try:
        no_redirects = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as refused:
            server.get(opener=no_redirects)
        assert refused.value.code == 302 and "login" in refused.value.headers["Location"]
        http = requests.Session()
        form = http.get(server.url + "login", timeout=10).text
        csrf = re.search(r'name="_csrf" value="([^"]+)"', form).group(1)
        http.post(server.url + "login", data={"username": "alice", "password": "pw-123", "_csrf": csrf}, timeout=10)
        assert http.get(server.url, timeout=30).status_code == 200
    finally:
        assert server.stop() == 0
    assert (server.root / "users" / "alice" / "runs").is_dir()
    assert not (server.root / "runs").exists()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_one_dashboard_per_workspace(tmp_path):
    import subprocess
    import sys

    from ui.serve import workspace_lock

    held = workspace_lock(tmp_path / "ws")
    assert held is not None
    other = "import pathlib, sys; from ui.serve import workspace_lock; print(workspace_lock(pathlib.Path(sys.argv[1])))"
    done = subprocess.run(
        [sys.executable, "-c", other, str(tmp_path / "ws")], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "None"  # a second server on this workspace is refused
    held.close()
