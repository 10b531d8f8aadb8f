"""Server-side login sessions: the cookie holds a random token, the server decides whether it still counts.

A signed cookie alone (Panel's basic auth) stays valid after /logout and for a user removed from
the users file. Here logout revokes the token, a removed user's tokens stop counting at the next
check, and open websockets of a revoked login are closed, not left running.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
import weakref
from collections.abc import Callable

IDLE_TIMEOUT_S = 12 * 3600  # a login unused this long ends
MAX_AGE_S = 7 * 24 * 3600  # and any login ends after a week


@dataclasses.dataclass
class LoginSession:
    user: str
    client: str
    created: float
    last_seen: float


class LoginSessions:
    """Live logins by token; `user_for(token)` is the one question every request asks."""

    def __init__(self, has_user: Callable[[str], bool], *, clock: Callable[[], float] = time.time) -> None:
        self._has_user = has_user
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, LoginSession] = {}
        self._sockets: dict[str, weakref.WeakSet] = {}

    def create(self, user: str, client: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._sessions[token] = LoginSession(user, client, now, now)
        return token

    def user_for(self, token: str | None) -> str | None:
        """The user a token logs in, or None (unknown, revoked, expired, or the user was removed)."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            expired = now - session.last_seen > IDLE_TIMEOUT_S or now - session.created > MAX_AGE_S
            if not expired:
                session.last_seen = now
        if expired or not self._has_user(session.user):
            self.revoke(token)
            return None
        return session.user

    def attach_socket(self, token: str, socket) -> None:
        """Remember an open websocket of this login, to close it when the login ends."""
        with self._lock:
            self._sockets.setdefault(token, weakref.WeakSet()).add(socket)

    def revoke(self, token: str) -> str | None:
        """End a login; returns its user (None if it was not live). Its open websockets are closed."""
        with self._lock:
            session = self._sessions.pop(token, None)
            sockets = list(self._sockets.pop(token, ()))
        for socket in sockets:
            _close(socket)
        return session.user if session else None

    def sweep(self) -> list[str]:
        """End every login that no longer counts (expired, user removed); returns their users."""
        with self._lock:
            tokens = list(self._sessions)
        ended = []
        for token in tokens:
            with self._lock:
                session = self._sessions.get(token)
            if session is not None and self.user_for(token) is None:
                ended.append(session.user)
        return ended

    def users(self) -> set[str]:
        with self._lock:
            return {session.user for session in self._sessions.values()}


def _close(socket) -> None:
    """Close a tornado WebSocketHandler from any thread (on its own IOLoop)."""
    loop = getattr(socket, "_gj_loop", None)
    if loop is None:
        socket.close(4001, "logged out")
    else:
        loop.add_callback(socket.close, 4001, "logged out")
