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


HEADER_TIMEOUT_S = 20.0  # a request's headers (and a kept-alive connection's idle time), as `gemma-jax serve`
BODY_TIMEOUT_S = 60.0  # a request's body (the login form, a download's range request)


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
        "--users-file",
        metavar="FILE",
        help='require a login: a JSON file of {"user": "password", ...}, re-read when it changes (a removed '
        "user loses access within seconds)",
    )
    parser.add_argument(
        "--password-file",
        metavar="FILE",
        help="require a login: one password (the file's first line) for any user name; or set GEMMA_JAX_PASSWORD",
    )
    parser.add_argument(
        "--basic-auth",
        metavar="PASSWORD_OR_FILE",
        help="a users file, or one password (visible in the process list: prefer --password-file)",
    )
    parser.add_argument(
        "--allow-path",
        action="append",
        default=[],
        metavar="DIR_OR_GS_PREFIX",
        help="behind a login, a folder or gs://bucket/prefix every user may read from besides their own "
        "workspace (repeatable); nothing else outside the workspace can be named",
    )
    parser.add_argument("--ssl-certfile", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--ssl-keyfile", metavar="FILE", help="the certificate's private key (PEM)")
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

    def __init__(
        self,
        root: str | Path,
        runner,
        *,
        login: bool,
        max_upload_mb: int | None = None,
        allowed: tuple[str, ...] = (),
        auth=None,
    ) -> None:
        from ui.audit import AuditLog
        from ui.workspace import DEFAULT_MAX_UPLOAD_MB

        self.root = Path(root)
        self.runner = runner
        self.login = login
        self.max_upload_mb = max_upload_mb or DEFAULT_MAX_UPLOAD_MB
        self.allowed = tuple(allowed)
        self.auth = auth  # ui.auth.DashboardAuth for password logins (None: no login, or OAuth through Panel)
        self.audit = auth.audit if auth is not None else AuditLog.in_workspace(self.root)

    def session(self, user: str | None):
        """A new browser session's state; behind a login, in the user's own workspace."""
        from ui.state.session import Session
        from ui.workspace import Workspace, claim_user_folder

        workspace = Workspace.for_user(
            self.root, user if self.login else None, self.max_upload_mb, allowed=self.allowed
        )
        if workspace.user:
            claim_user_folder(workspace.root, workspace.user)  # WorkspaceError: the folder is another name's
        workspace = workspace.ensure()
        if self.runner is not None:
            self.runner.add_runs_dir(workspace.runs_dir)
        session = Session(workspace, self.runner)
        session.audit_log = self.audit
        return session

    def current_user(self) -> str | None:
        """The logged-in user of the Panel session being built (None without a login)."""
        import panel as pn

        if not self.login:
            return None
        if self.auth is not None:
            return self.auth.user_of_session(pn.state.headers)
        return pn.state.user

    def app(self):
        """Build the dashboard for the current browser session (pn.serve calls this per session)."""
        import panel as pn

        from ui.app import build_app
        from ui.workspace import WorkspaceError

        user = self.current_user()
        if self.login and not user:
            return pn.pane.Alert("Your login has ended. [Log in again](/login)", alert_type="warning")
        try:
            return build_app(self.session(user))
        except WorkspaceError as err:
            return pn.pane.Alert(str(err), alert_type="danger")


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


def tls_problem(certfile: str | None, keyfile: str | None) -> str | None:
    """Why the TLS options cannot be used (checked before serving), or None."""
    if not certfile and not keyfile:
        return None
    if not certfile:
        return "--ssl-keyfile needs --ssl-certfile (the certificate)"
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except FileNotFoundError as err:
        return f"no such certificate or key file: {err.filename}"
    except (ssl.SSLError, OSError) as err:
        return f"cannot use the certificate {certfile} (and key {keyfile}): {err}"
    return None


def main(args: argparse.Namespace) -> int:
    """`gemma-jax ui`: check the options, start the job runner, serve until interrupted."""
    from ui.auth import CredentialsError, load_credentials

    try:
        credentials = load_credentials(
            basic_auth=args.basic_auth, users_file=args.users_file, password_file=args.password_file
        )
    except CredentialsError as err:
        print(f"gemma-jax ui: {err}", file=sys.stderr)
        return 2
    if credentials is not None and args.oauth_provider:
        print("gemma-jax ui: choose password logins or --oauth-provider, not both", file=sys.stderr)
        return 2
    login = bool(credentials or args.oauth_provider)
    refused = exposure_error(args.address, login=login, allow_unauthenticated=args.allow_unauthenticated)
    refused = refused or tls_problem(args.ssl_certfile, args.ssl_keyfile)
    if refused:
        print(f"gemma-jax ui: {refused}", file=sys.stderr)
        return 2
    if args.oauth_provider and not (args.oauth_key and args.oauth_secret):
        print("gemma-jax ui: --oauth-provider needs --oauth-key and --oauth-secret", file=sys.stderr)
        return 2
    os.umask(0o077)  # run folders, uploads and the jobs' files: readable by this account only
    job_env = cpu_only_environment()
    return serve(args, job_env, login=login, credentials=credentials)


def serve(args: argparse.Namespace, job_env: Mapping[str, str], *, login: bool, credentials=None) -> int:
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
    from ui.audit import AuditLog
    from ui.auth import DashboardAuth
    from ui.download_route import download_route
    from ui.http_security import component_route, security_headers

    port = args.port or free_port(args.address)
    tls = bool(args.ssl_certfile)
    cookie_secret = args.cookie_secret or (secrets.token_urlsafe(32) if login else None)
    auth = None
    if credentials is not None:
        auth = DashboardAuth(credentials, AuditLog.in_workspace(root), cookie_secret, tls=tls)
    runner = JobRunner([], env=job_env).start()  # re-attaches to running jobs, marks dead ones failed
    dashboard = DashboardServer(
        root, runner, login=login, max_upload_mb=args.max_upload_mb, allowed=tuple(args.allow_path), auth=auth
    )
    if not login:
        dashboard.session(None)  # create the workspace and watch its runs before the first visit
    ws_limit = configure_uploads(dashboard.max_upload_mb)
    from ui.app import load_extensions
    from ui.log_noise import quiet_closed_tabs

    load_extensions()
    quiet_closed_tabs()
    options = {
        "port": port,
        "address": args.address,
        "show": args.show,
        "title": "gemma-jax",
        "websocket_origin": args.allow_websocket_origin or default_origins(args.address, port),
        "websocket_max_message_size": ws_limit,
        "cookie_secret": cookie_secret,
        "extra_patterns": [component_route(), download_route(dashboard)],
        "transforms": [security_headers(tls=tls)],
        # Tornado waits an hour for a request's headers by default, so slow clients could hold every
        # connection (slowloris); upgraded websockets are not bound by these.
        "http_server_kwargs": {"idle_connection_timeout": HEADER_TIMEOUT_S, "body_timeout": BODY_TIMEOUT_S},
    }
    if tls:
        options.update(ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile)
    if auth is not None:
        from ui.auth.provider import TOKEN_EXCLUDES

        # Signed session tokens: the app reads the user from the token's headers, so a client must not be
        # able to mint a token of its own (Bokeh accepts unsigned ones by default).
        options.update(auth_provider=auth, sign_sessions=True, secret_key=secrets.token_bytes(32), **TOKEN_EXCLUDES)
    if args.oauth_provider:
        options.update(oauth_provider=args.oauth_provider, oauth_key=args.oauth_key, oauth_secret=args.oauth_secret)
    server = pn.serve({"/": dashboard.app}, start=False, **options)
    if auth is not None:  # a removed user or an expired login loses its open pages within seconds
        from tornado.ioloop import PeriodicCallback

        PeriodicCallback(auth.check, 2000).start()
    host = "localhost" if is_local_address(args.address) else args.address
    if host in ("0.0.0.0", "::", ""):  # every interface: the machine's name is what browsers use
        host = socket.gethostname()
    scheme = "https" if tls else "http"
    print(f"gemma-jax dashboard: {scheme}://{host}:{server.port}/  (workspace {root}; Ctrl+C to stop)", flush=True)
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
