"""`/downloads/<run_id>/<export folder>/<file>`: a user's export streamed over plain HTTP (and
`/downloads/<run_id>/eval/step-N-SPLIT/<report file>`, an evaluation report; see ui/downloads.py).

The user is whoever the dashboard's own auth provider says the request belongs to (the login
cookie for password logins, Panel's for OAuth), exactly as for the pages; without a login
(one user, this machine) it is the one workspace. A visitor without a live login is sent to
the login page (which returns them to the file); anything the link may not name is 404, the
same answer whether it is missing, another user's or outside the workspace. The file is read
and sent 1 MiB at a time, flushed before the next, so the server holds one chunk, not the file.
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

from bokeh.server.views.auth_request_handler import AuthRequestHandler
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.web import HTTPError

from ui.downloads import DOWNLOAD_PREFIX, attachment, content_type, download_file
from ui.workspace import Workspace

CHUNK_BYTES = 1024 * 1024


class ExportDownloadHandler(AuthRequestHandler):
    def initialize(self, dashboard) -> None:
        self.dashboard = dashboard  # ui.serve.DashboardServer: the workspace root and the login mode

    def _user(self) -> str | None:
        """The logged-in user (the auth provider's answer, as every page request gets it)."""
        user = self.current_user
        return user.decode() if isinstance(user, bytes) else user

    def _to_login(self) -> None:
        try:
            login = self.get_login_url()
        except RuntimeError:  # an auth provider without a login page
            raise HTTPError(401) from None
        self.redirect(f"{login}?{urlencode({'next': self.request.uri})}")

    async def get(self, run_id: str, relative: str) -> None:
        user = None
        if self.dashboard.login:
            user = self._user()
            if not user:
                self._to_login()
                return
        workspace = Workspace.for_user(self.dashboard.root, user, allowed=self.dashboard.allowed)
        path = download_file(workspace, run_id, relative)
        if path is None:
            raise HTTPError(404)
        loop = IOLoop.current()
        try:
            handle = await loop.run_in_executor(None, open, path, "rb")
        except OSError:
            raise HTTPError(404) from None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            self.set_header("Content-Type", content_type(path))
            self.set_header("Content-Length", str(size))
            self.set_header("Content-Disposition", attachment(path.name))
            self.set_header("Cache-Control", "private, no-store")
            self.dashboard.audit.record("download", user=user, client=self.request.remote_ip, run=run_id, file=relative)
            sent = 0
            try:
                while sent < size:
                    chunk = await loop.run_in_executor(None, handle.read, min(CHUNK_BYTES, size - sent))
                    if not chunk:
                        break  # the file was cut while being sent; the client sees a short body
                    self.write(chunk)
                    await self.flush()  # waits until the chunk is handed to the socket
                    sent += len(chunk)
            except StreamClosedError:
                return  # the browser cancelled the download
        self.finish()


def download_route(dashboard) -> tuple[str, type, dict]:
    """The route `gemma-jax ui` adds to Panel's server (ui.serve)."""
    return (rf"/{DOWNLOAD_PREFIX}/([^/]+)/(.+)", ExportDownloadHandler, {"dashboard": dashboard})
