"""`gemma-jax ui`: serve the dashboard with one job runner for the whole server.

The server process never opens an accelerator (JAX_PLATFORMS=cpu, set before anything
imports JAX): training, evaluation, export and generation run in their own processes, which
get the environment the command was started with. Beyond localhost a login is required;
behind a login every user gets their own workspace (`<DIR>/users/<name>/`).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from gemma_jax.command_line import positive_int

DEFAULT_WORKSPACE = "gemma-jax-workspace"
DEFAULT_PORT = 5006
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024  # FileDropper's default chunk here (a page may choose its own)
WEBSOCKET_MAX_BYTES = 64 * 1024 * 1024  # > 16 MB chunks base64-encoded; Bokeh's default is 20 MB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `gemma-jax ui` options (the CLI calls this; nothing heavy is imported here)."""
    parser.add_argument(
        "--runs-dir",
        default=DEFAULT_WORKSPACE,
        metavar="DIR",
        help=f"the dashboard's workspace folder: runs in DIR/runs, uploads in DIR/uploads, and with a login "
        f"DIR/users/<name>/ per user (default ./{DEFAULT_WORKSPACE}). Runs started with "
        "`gemma-jax train --set runs_dir=DIR/runs` show up too.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free one")
    parser.add_argument(
        "--address", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)"
    )
    show = parser.add_mutually_exclusive_group()
    show.add_argument("--show", dest="show", action="store_true", default=True, help="open a browser tab (default)")
    show.add_argument("--no-show", dest="show", action="store_false", help="do not open a browser")
    parser.add_argument(
        "--basic-auth",
        metavar="PASSWORD_OR_FILE",
        help="require a login: one password for any user name, or a JSON file of {user: password}",
    )
    parser.add_argument(
        "--oauth-provider", metavar="NAME", help="log in with OAuth (e.g. github, google, azure, generic)"
    )
    parser.add_argument("--oauth-key", help="OAuth client id")
    parser.add_argument("--oauth-secret", help="OAuth client secret")
    parser.add_argument("--cookie-secret", help="signs login cookies (default: a random one, so logins end on restart)")
    parser.add_argument("--max-upload-mb", type=positive_int, default=None, help="largest uploaded file (default 2048)")
    parser.add_argument(
        "--allow-websocket-origin",
        action="append",
        metavar="HOST[:PORT]",
        help="a host name browsers may use to reach the dashboard (repeatable), e.g. behind a proxy",
    )
    parser.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve on a non-local address without a login (anyone who can reach the port controls your jobs)",
    )


def is_local_address(address: str) -> bool:
    if address in ("localhost", ""):
        return address == "localhost"
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def exposure_error(address: str, *, login: bool, allow_unauthenticated: bool) -> str | None:
    """Why serving on `address` is refused, or None."""
    if login or allow_unauthenticated or is_local_address(address):
        return None
    return (
        f"refusing to serve on {address} without a login: anyone who reaches the port could start, stop and "
        "delete jobs. Add --basic-auth PASSWORD (or --oauth-provider ...), or use --address 127.0.0.1 with an "
        "SSH tunnel, or pass --allow-unauthenticated if the network is private."
    )


def cpu_only_environment() -> dict[str, str]:
    """Make this process CPU-only for JAX and return the environment jobs should get (the original one)."""
    original = dict(os.environ)
    if "jax" in sys.modules:
        raise RuntimeError("JAX was imported before the dashboard could keep it off the accelerator")
    os.environ["JAX_PLATFORMS"] = "cpu"
    return original


def free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def default_origins(address: str, port: int) -> list[str]:
    """Browser origins allowed to open the websocket when --allow-websocket-origin is not given:
    localhost, and for a non-local bind also the address itself and this machine's names."""
    names = ["localhost", "127.0.0.1"]
    if not is_local_address(address):
        names += [
            name for name in (address, socket.gethostname(), socket.getfqdn()) if name not in ("0.0.0.0", "::", "")
        ]
    return list(dict.fromkeys(f"{name}:{port}" for name in names))


class DashboardServer:
    """The state shared by every browser session: the workspace root, the login mode and one JobRunner."""

    def __init__(self, root: str | Path, runner, *, login: bool, max_upload_mb: int | None = None) -> None:
        from ui.workspace import DEFAULT_MAX_UPLOAD_MB

        self.root = Path(root)
        self.runner = runner
        self.login = login
        self.max_upload_mb = max_upload_mb or DEFAULT_MAX_UPLOAD_MB

    def session(self, user: str | None):
        """A new browser session's state; behind a login, in the user's own workspace."""
        from ui.state.session import Session
        from ui.workspace import Workspace

        workspace = Workspace.for_user(self.root, user if self.login else None, self.max_upload_mb).ensure()
        if self.runner is not None:
            self.runner.add_runs_dir(workspace.runs_dir)
        return Session(workspace, self.runner)

    def app(self):
        """Build the dashboard for the current browser session (pn.serve calls this per session)."""
        import panel as pn

        from ui.app import build_app

        return build_app(self.session(pn.state.user if self.login else None))


def workspace_lock(root: Path):
    """An exclusive lock on the workspace held for this process's life, or None when another server holds it."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / ".dashboard.lock", "a+")  # noqa: SIM115 (held open until the process exits)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def configure_uploads(max_upload_mb: int) -> int:
    """FileDropper sends files up to the limit in chunks; returns the websocket message limit in bytes.

    A chunk travels base64-encoded in one message, so the limit only has to fit a chunk (with
    room for a page that picks chunks of up to 16 MB), not a whole multi-GB file.
    """
    import panel as pn

    dropper = pn.widgets.FileDropper.param
    dropper.chunk_size.default = UPLOAD_CHUNK_BYTES
    dropper.max_file_size.default = f"{max_upload_mb}MB"
    return WEBSOCKET_MAX_BYTES


def main(args: argparse.Namespace) -> int:
    """`gemma-jax ui`: check the options, start the job runner, serve until interrupted."""
    login = bool(args.basic_auth or args.oauth_provider)
    refused = exposure_error(args.address, login=login, allow_unauthenticated=args.allow_unauthenticated)
    if refused:
        print(f"gemma-jax ui: {refused}", file=sys.stderr)
        return 2
    if args.oauth_provider and not (args.oauth_key and args.oauth_secret):
        print("gemma-jax ui: --oauth-provider needs --oauth-key and --oauth-secret", file=sys.stderr)
        return 2
    job_env = cpu_only_environment()
    return serve(args, job_env, login=login)


def serve(args: argparse.Namespace, job_env: Mapping[str, str], *, login: bool) -> int:
    import panel as pn

    from gemma_jax.jobs import JobRunner

    root = Path(args.runs_dir).expanduser().resolve()
    lock = workspace_lock(root)
    if lock is None:
        print(
            f"gemma-jax ui: another dashboard already serves {root}; open that one, or give this one its own "
            "--runs-dir (two job runners on one workspace would start the same queued run twice)",
            file=sys.stderr,
        )
        return 2
    port = args.port or free_port(args.address)
    runner = JobRunner([], env=job_env).start()  # re-attaches to running jobs, marks dead ones failed
    dashboard = DashboardServer(root, runner, login=login, max_upload_mb=args.max_upload_mb)
    if not login:
        dashboard.session(None)  # create the workspace and watch its runs before the first visit
    ws_limit = configure_uploads(dashboard.max_upload_mb)
    from ui.app import load_extensions

    load_extensions()
    options = {
        "port": port,
        "address": args.address,
        "show": args.show,
        "title": "gemma-jax",
        "websocket_origin": args.allow_websocket_origin or default_origins(args.address, port),
        "websocket_max_message_size": ws_limit,
        "cookie_secret": args.cookie_secret or (secrets.token_urlsafe(32) if login else None),
    }
    if args.basic_auth:
        options["basic_auth"] = args.basic_auth
    if args.oauth_provider:
        options.update(oauth_provider=args.oauth_provider, oauth_key=args.oauth_key, oauth_secret=args.oauth_secret)
    server = pn.serve({"/": dashboard.app}, start=False, **options)
    host = "localhost" if is_local_address(args.address) else args.address
    if host in ("0.0.0.0", "::", ""):  # every interface: the machine's name is what browsers use
        host = socket.gethostname()
    print(f"gemma-jax dashboard: http://{host}:{server.port}/  (workspace {root}; Ctrl+C to stop)", flush=True)
    if not args.allow_websocket_origin and not is_local_address(args.address):
        print(
            f"browsers may reach it as {', '.join(options['websocket_origin'])}; for another name or address "
            "add --allow-websocket-origin NAME:PORT",
            flush=True,
        )
    signal.signal(signal.SIGTERM, lambda *_: server.io_loop.asyncio_loop.call_soon_threadsafe(server.io_loop.stop))
    try:
        server.start()
        server.io_loop.start()
    finally:
        runner.close()  # jobs keep running; the next `gemma-jax ui` re-attaches to them
    return 0


def development_session():
    """`panel serve ui/app.py`: the default workspace and a job runner for this server process."""
    import panel as pn

    from gemma_jax.jobs import JobRunner

    cache = pn.state.cache
    if "gj-server" not in cache:
        root = Path(os.environ.get("GEMMA_JAX_WORKSPACE", DEFAULT_WORKSPACE)).resolve()
        job_env = cpu_only_environment()
        cache["gj-server"] = DashboardServer(root, JobRunner([], env=job_env).start(), login=False)
    return cache["gj-server"].session(None)
