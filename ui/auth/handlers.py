"""The login and logout pages (Tornado handlers on the dashboard's server).

The form carries a CSRF token (double submit: a random cookie and the same value in a hidden
field), failed tries back off per client and per name, and every login, failure and logout is
written to the audit log. Error text is escaped; the page cannot be framed (see http_security).
"""

from __future__ import annotations

import hmac
import html
import secrets
from typing import TYPE_CHECKING

from tornado.web import RequestHandler

if TYPE_CHECKING:
    from ui.auth.provider import DashboardAuth

SESSION_COOKIE = "gj_session"
CSRF_COOKIE = "gj_csrf"
COOKIE_DAYS = 8  # the signed cookie's own limit; the server-side session ends earlier (sessions.py)
MAX_FIELD = 1024

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>gemma-jax: log in</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f5f7; display: flex; justify-content: center;
       align-items: center; min-height: 100vh; margin: 0; }}
form {{ background: white; padding: 2em; border-radius: 8px; box-shadow: 0 2px 12px #0002; width: 20em; }}
h1 {{ font-size: 1.3em; margin-top: 0; }} label {{ display: block; margin: 0.8em 0 0.2em; }}
input[type=text], input[type=password] {{ width: 100%; box-sizing: border-box; padding: 0.5em; }}
button {{ margin-top: 1.2em; width: 100%; padding: 0.6em; background: #1a73e8; color: white; border: 0;
          border-radius: 4px; font-size: 1em; cursor: pointer; }}
.error {{ color: #b00020; margin: 0.5em 0; }}
</style></head>
<body><form method="post" action="{action}">
<h1>gemma-jax dashboard</h1>
{error}
<label for="username">User name</label>
<input type="text" id="username" name="username" autocomplete="username" autofocus required maxlength="64">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<input type="hidden" name="_csrf" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form></body></html>
"""


def safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no //host, no backslashes) may follow a login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class _AuthHandler(RequestHandler):
    def initialize(self, auth: DashboardAuth) -> None:
        self.auth = auth

    @property
    def client(self) -> str:
        return self.request.remote_ip or "unknown"

    def cookie_options(self) -> dict:
        return {"httponly": True, "samesite": "Strict", "secure": self.auth.tls, "path": "/"}


class LoginHandler(_AuthHandler):
    def get(self) -> None:
        self.render_form("", next_url=self.get_argument("next", "/"))

    def render_form(self, error: str, *, status: int = 200, next_url: str = "/") -> None:
        csrf = secrets.token_urlsafe(24)
        self.set_cookie(CSRF_COOKIE, csrf, **self.cookie_options())
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        error_html = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        page = LOGIN_PAGE.format(
            action=html.escape(self.auth.login_url), error=error_html, csrf=csrf, next=html.escape(safe_next(next_url))
        )
        self.finish(page)

    def post(self) -> None:
        user = self.get_body_argument("username", "")[:MAX_FIELD]
        password = self.get_body_argument("password", "")[:MAX_FIELD]
        next_url = safe_next(self.get_body_argument("next", "/"))
        sent, expected = self.get_body_argument("_csrf", ""), self.get_cookie(CSRF_COOKIE, "")
        if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            self.auth.audit.record("login_refused", user=user or None, client=self.client, reason="csrf")
            self.render_form("The login form expired or came from another site; log in again.", status=403)
            return
        wait = self.auth.throttle.retry_after(self.client, user)
        if wait > 0:
            self.auth.audit.record("login_throttled", user=user or None, client=self.client)
            self.set_header("Retry-After", str(int(wait) + 1))
            self.render_form(f"Too many failed logins; try again in {int(wait) + 1} s.", status=429, next_url=next_url)
            return
        if not self.auth.credentials.check(user, password):
            self.auth.throttle.failed(self.client, user)
            self.auth.audit.record("login_failed", user=user or None, client=self.client)
            self.render_form("Wrong user name or password.", status=401, next_url=next_url)
            return
        self.auth.throttle.succeeded(self.client, user)
        token = self.auth.sessions.create(user, self.client)
        self.set_secure_cookie(SESSION_COOKIE, token, expires_days=COOKIE_DAYS, **self.cookie_options())
        self.clear_cookie(CSRF_COOKIE, path="/")
        self.auth.audit.record("login", user=user, client=self.client)
        self.redirect(next_url)


class LogoutHandler(_AuthHandler):
    def get(self) -> None:
        token = self.get_secure_cookie(SESSION_COOKIE, max_age_days=COOKIE_DAYS)
        user = self.auth.sessions.revoke(token.decode()) if token else None
        if user:
            self.auth.audit.record("logout", user=user, client=self.client)
        self.clear_cookie(SESSION_COOKIE, path="/")
        self.redirect(self.auth.login_url)

    post = get
