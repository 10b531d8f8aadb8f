"""The dashboard's Bokeh auth provider: password logins with server-side sessions.

Every HTTP request and websocket of the dashboard asks `get_user`, which maps the signed
session cookie to a live login (sessions.py); the login and logout pages are handlers.py.

Bokeh copies a page request's cookies and headers into the session token it embeds in the page.
So that the session cookie never appears in a page, the server excludes it (and the Cookie
header) from that copy (`TOKEN_EXCLUDES`), and `get_user` hands the app the user's name in a
request header of its own instead, replacing any header of that name a client sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from bokeh.server.auth_provider import AuthProvider
from tornado.ioloop import IOLoop
from tornado.web import decode_signed_value
from tornado.websocket import WebSocketHandler

from ui.audit import AuditLog
from ui.auth.credentials import Credentials
from ui.auth.handlers import COOKIE_DAYS, CSRF_COOKIE, SESSION_COOKIE, LoginHandler, LogoutHandler
from ui.auth.sessions import LoginSessions
from ui.auth.throttle import LoginThrottle

USER_HEADER = "X-Gemma-Jax-User"
TOKEN_EXCLUDES = {"exclude_cookies": [SESSION_COOKIE, CSRF_COOKIE], "exclude_headers": ["Cookie"]}


class DashboardAuth(AuthProvider):
    login_url = "/login"
    logout_url = "/logout"

    def __init__(self, credentials: Credentials, audit: AuditLog, cookie_secret: str, *, tls: bool = False) -> None:
        self.credentials = credentials
        self.audit = audit
        self.cookie_secret = cookie_secret
        self.tls = tls
        self.sessions = LoginSessions(credentials.has_user)
        self.throttle = LoginThrottle()
        super().__init__()

    # Bokeh reads these three as properties.
    @property
    def get_user(self):
        return self._user_of_request

    @property
    def login_handler(self):
        return LoginHandler

    @property
    def logout_handler(self):
        return LogoutHandler

    @property
    def endpoints(self):
        return [(self.login_url, LoginHandler, {"auth": self}), (self.logout_url, LogoutHandler, {"auth": self})]

    def token_of(self, signed_cookie: str | bytes | None) -> str | None:
        if not signed_cookie:
            return None
        token = decode_signed_value(self.cookie_secret, SESSION_COOKIE, signed_cookie, max_age_days=COOKIE_DAYS)
        return token.decode() if token else None

    def _user_of_request(self, handler) -> str | None:
        token = self.token_of(handler.get_cookie(SESSION_COOKIE))
        user = self.sessions.user_for(token)
        headers = handler.request.headers
        if USER_HEADER in headers:
            del headers[USER_HEADER]  # only this method says who the user is
        if user and isinstance(handler, WebSocketHandler):
            handler._gj_loop = IOLoop.current()
            self.sessions.attach_socket(token, handler)
        elif user:
            headers[USER_HEADER] = user
        return user

    @staticmethod
    def user_of_session(headers: Mapping[str, str]) -> str | None:
        """The logged-in user of the Panel session being built (from its page request's headers)."""
        return headers.get(USER_HEADER) or None

    def check(self) -> None:
        """Re-read the users file and end logins that no longer count (run every few seconds)."""
        self.credentials.reload_if_changed()
        for user in self.sessions.sweep():
            self.audit.record("login_ended", user=user, reason="removed from the users file or expired")
