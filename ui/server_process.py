"""The dashboard in a child process, for the browser tests and the dashboard benchmark.

Starting `gemma-jax ui` the way a user does (a real server on a real port, jobs in their own
processes) is the only honest way to test that a restart keeps running jobs.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DashboardProcess:
    """`gemma-jax ui` serving `root` on a free local port; `restart()` keeps the port."""

    def __init__(
        self,
        root: str | Path,
        *,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ):
        self.root = Path(root)
        self.port = port or free_port()
        self.extra_args = extra_args
        self.extra_env = env or {}
        self.tls = "--ssl-certfile" in extra_args
        self.log_path = self.root / "dashboard-server.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    def start(self, timeout_s: float = 90.0) -> DashboardProcess:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "gemma_jax.cli", "ui",
            "--runs-dir", str(self.root), "--port", str(self.port), "--no-show", *self.extra_args,
        ]  # fmt: skip
        env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"} | self.extra_env
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the dashboard exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                context = ssl._create_unverified_context() if self.tls else None  # the tests' self-signed cert
                with urllib.request.urlopen(self.url, timeout=5, context=context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"the dashboard did not answer on {self.url} in {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> DashboardProcess:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
