"""Who may log in: one shared password, or a JSON file of users and passwords that is re-read when it changes.

Both are checked when the server starts, so a typo in a path or a broken file stops `gemma-jax ui`
with a message instead of becoming a password (Panel's own `basic_auth` takes any string that is
not an existing file as the password) or a server that answers every login with an error.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import unicodedata
from pathlib import Path

log = logging.getLogger(__name__)
MAX_USER_NAME = 64
MAX_USERS_FILE_BYTES = 1024 * 1024


class CredentialsError(ValueError):
    """The login settings cannot be used; the message says what to fix."""


def user_name_problem(name: object) -> str:
    """Why `name` cannot be a user name ('' when it can)."""
    if not isinstance(name, str) or not name.strip():
        return "a user name must be a non-empty string"
    if len(name) > MAX_USER_NAME:
        return f"the user name {name[:20]!r}... is longer than {MAX_USER_NAME} characters"
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        return f"the user name {name!r} contains control or invisible characters"
    if name != name.strip():
        return f"the user name {name!r} starts or ends with spaces"
    return ""


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class SharedPassword:
    """One password for every user name (each name still gets its own workspace)."""

    def __init__(self, password: str) -> None:
        if not password:
            raise CredentialsError("the dashboard password is empty; choose one of at least 8 characters")
        self._password = password

    def check(self, user: str, password: str) -> bool:
        return not user_name_problem(user) and _matches(password, self._password)

    def has_user(self, user: str) -> bool:
        return not user_name_problem(user)

    def reload_if_changed(self) -> None:
        """Nothing to reload: the password is fixed for the server's life."""


class UsersFile:
    """A JSON object {user: password}; re-read on every check when its size or time changes.

    A user removed from the file loses access at the next check (the login sessions ask
    `has_user`). A file made invalid while the server runs keeps the last valid table and is
    reported in the server log, so a half-saved edit locks nobody out and lets nobody in.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._users = self._read()  # raises CredentialsError at start: the server refuses to start
        self._stamp = self._current_stamp()

    def _current_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _read(self) -> dict[str, str]:
        try:
            size = self.path.stat().st_size
            if size > MAX_USERS_FILE_BYTES:
                raise CredentialsError(f"the users file {self.path} is over 1 MB; is it the right file?")
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CredentialsError(f"the users file {self.path} does not exist") from None
        except (OSError, UnicodeDecodeError) as err:
            raise CredentialsError(f"cannot read the users file {self.path}: {err}") from None
        try:
            users = json.loads(text)
        except json.JSONDecodeError as err:
            raise CredentialsError(
                f"the users file {self.path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
                'write it as {"alice": "her password", "bob": "his password"}'
            ) from None
        if not isinstance(users, dict) or not users:
            raise CredentialsError(
                f'the users file {self.path} must be a JSON object of users and passwords, like {{"alice": "..."}}'
            )
        for name, password in users.items():
            problem = user_name_problem(name)
            if problem:
                raise CredentialsError(f"the users file {self.path}: {problem}")
            if not isinstance(password, str) or not password:
                raise CredentialsError(
                    f"the users file {self.path}: the password of {name!r} must be a non-empty string"
                )
        return dict(users)

    def reload_if_changed(self) -> None:
        with self._lock:
            stamp = self._current_stamp()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                self._users = self._read()
            except CredentialsError as err:
                if stamp is None:  # the file was removed: nobody may log in any more
                    self._users = {}
                log.error("%s; %s", err, "nobody can log in" if stamp is None else "keeping the last valid users")

    def check(self, user: str, password: str) -> bool:
        self.reload_if_changed()
        expected = self._users.get(user)
        if expected is None:
            _matches(password, "x" * 16)  # same work for unknown names: no timing hint
            return False
        return _matches(password, expected)

    def has_user(self, user: str) -> bool:
        self.reload_if_changed()
        return user in self._users


Credentials = SharedPassword | UsersFile
PASSWORD_ENV = "GEMMA_JAX_PASSWORD"


def _looks_like_path(value: str) -> bool:
    return os.sep in value or value.endswith(".json") or value.startswith("~")


def load_credentials(
    *,
    basic_auth: str | None = None,
    users_file: str | None = None,
    password_file: str | None = None,
    environ: dict[str, str] | None = None,
) -> Credentials | None:
    """The login settings from the command line and the environment; None for no password login.

    `--basic-auth` keeps its old meaning (a password, or an existing JSON users file), except that
    a value that looks like a path but names no file is refused instead of becoming the password.
    """
    environ = os.environ if environ is None else environ
    env_password = environ.get(PASSWORD_ENV) or None
    given = [name for name, value in (("--basic-auth", basic_auth), ("--users-file", users_file),
             ("--password-file", password_file), (PASSWORD_ENV, env_password)) if value]  # fmt: skip
    if len(given) > 1:
        raise CredentialsError(f"give one way to log in, not {' and '.join(given)}")
    if users_file:
        return UsersFile(users_file)
    if password_file:
        path = Path(password_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise CredentialsError(f"the password file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as err:
            raise CredentialsError(f"cannot read the password file {path}: {err}") from None
        return SharedPassword(lines[0].strip() if lines else "")
    if env_password:
        return SharedPassword(env_password)
    if basic_auth:
        if Path(basic_auth).expanduser().is_file():
            return UsersFile(basic_auth)
        if _looks_like_path(basic_auth):
            raise CredentialsError(
                f"--basic-auth {basic_auth}: no such users file (a value that looks like a path is never used as a "
                "password); fix the path, or give the password with --password-file FILE or "
                f"the {PASSWORD_ENV} environment variable"
            )
        return SharedPassword(basic_auth)
    return None
