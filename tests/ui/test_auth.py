"""Logins without a server: credentials, server-side sessions, backoff, the audit log and workspace names."""

import json

import pytest
from ui_helpers import make_run

from gemma_jax.jobs import JobRunner
from ui.audit import AuditLog
from ui.auth.credentials import PASSWORD_ENV, CredentialsError, SharedPassword, UsersFile, load_credentials
from ui.auth.handlers import safe_next
from ui.auth.sessions import IDLE_TIMEOUT_S, LoginSessions
from ui.auth.throttle import LoginThrottle
from ui.state.runs import RunsState
from ui.state.session import Session
from ui.workspace import Workspace, WorkspaceError, claim_user_folder, safe_user_name


def test_a_path_that_names_no_file_is_refused_never_a_password(tmp_path):
    for value in (str(tmp_path / "missing.json"), "users.json", "~/nope/users.json", "conf/users"):
        with pytest.raises(CredentialsError, match="no such users file"):
            load_credentials(basic_auth=value, environ={})
    assert isinstance(load_credentials(basic_auth="pw-123", environ={}), SharedPassword)
    assert load_credentials(environ={}) is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ("{}", "JSON object"),
        ('{"alice": ""}', "non-empty string"),
        ('{"alice": 3}', "non-empty string"),
        ('{"": "x"}', "non-empty"),
        ('{"a\\nb": "x"}', "control"),
    ],
)
def test_a_broken_users_file_stops_the_start_with_what_to_fix(tmp_path, text, needle):
    path = tmp_path / "users.json"
    path.write_text(text)
    for kwargs in ({"users_file": str(path)}, {"basic_auth": str(path)}):
        with pytest.raises(CredentialsError, match=needle):
            load_credentials(**kwargs, environ={})


def test_password_from_a_file_or_the_environment_and_only_one_source(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret-pass\n")
    assert load_credentials(password_file=str(secret), environ={}).check("anyone", "s3cret-pass")
    assert load_credentials(environ={PASSWORD_ENV: "env-pass"}).check("x", "env-pass")
    with pytest.raises(CredentialsError, match="does not exist"):
        load_credentials(password_file=str(tmp_path / "missing"), environ={})
    with pytest.raises(CredentialsError, match="one way"):
        load_credentials(password_file=str(secret), environ={PASSWORD_ENV: "x"})
    with pytest.raises(CredentialsError, match="empty"):
        SharedPassword("")


def test_the_users_file_is_reread_and_a_broken_edit_keeps_the_last_valid_table(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"alice": "a-pass", "bob": "b-pass"}))
    users = UsersFile(path)
    assert users.check("bob", "b-pass") and not users.check("bob", "a-pass") and not users.check("carol", "x")
    path.write_text(json.dumps({"alice": "a-pass"}))
    assert not users.has_user("bob") and not users.check("bob", "b-pass")
    path.write_text("{half written")
    assert users.has_user("alice")  # the last valid table stays
    path.unlink()
    assert not users.has_user("alice")  # no file: nobody


def test_logout_and_removal_end_a_login_and_close_its_sockets():
    members = {"alice", "bob"}
    now = [1000.0]
    sessions = LoginSessions(lambda user: user in members, clock=lambda: now[0])

    class Socket:
        closed = None

        def close(self, code, reason):
            self.closed = (code, reason)

    alice, bob = sessions.create("alice", "127.0.0.1"), sessions.create("bob", "127.0.0.1")
    socket = Socket()
    sessions.attach_socket(bob, socket)
    assert sessions.user_for(alice) == "alice" and sessions.user_for(bob) == "bob"
    assert sessions.user_for("forged") is None and sessions.user_for(None) is None
    assert sessions.revoke(alice) == "alice" and sessions.user_for(alice) is None
    members.discard("bob")
    assert sessions.sweep() == ["bob"] and socket.closed == (4001, "logged out")
    carol = sessions.create("carol", "127.0.0.1")
    members.add("carol")
    now[0] += IDLE_TIMEOUT_S + 1
    assert sessions.user_for(carol) is None  # idle too long


def test_failed_logins_back_off_per_client_and_per_name():
    now = [0.0]
    throttle = LoginThrottle(free_failures=3, max_wait_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("1.2.3.4", "alice") == 0
        throttle.failed("1.2.3.4", "alice")
    assert throttle.retry_after("1.2.3.4", "bob") == 1.0  # the client waits, whatever the name
    assert throttle.retry_after("5.6.7.8", "alice") == 1.0  # and the name waits, from any client
    assert throttle.retry_after("5.6.7.8", "bob") == 0
    now[0] += 1.0
    throttle.failed("1.2.3.4", "alice")
    assert throttle.retry_after("1.2.3.4", "alice") == 2.0  # doubles
    for _ in range(20):
        throttle.failed("1.2.3.4", "alice")
    assert throttle.retry_after("1.2.3.4", "alice") == 60  # capped
    throttle.succeeded("1.2.3.4", "alice")
    assert throttle.retry_after("1.2.3.4", "alice") == 0


def test_only_local_paths_follow_a_login():
    assert safe_next("/?run=a&page=Training") == "/?run=a&page=Training"
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "", None):
        assert safe_next(target) == "/"


def test_the_audit_log_is_private_json_lines(tmp_path):
    audit = AuditLog.in_workspace(tmp_path)
    audit.record("login", user="alice", client="127.0.0.1")
    audit.record("start", user="alice", run="r1")
    assert [(e["action"], e["user"]) for e in audit.entries()] == [("login", "alice"), ("start", "alice")]
    assert (audit.path.stat().st_mode & 0o777) == 0o600


def test_workspace_names_are_unique_and_never_paths(tmp_path):
    names = ["李雷", "韩梅梅", "José", "Jose", "a b", "a-b", "a_b", "..", ".", "../x", "a/b", "user", "Ａlice", "alice"]
    folders = [safe_user_name(name) for name in names]
    assert len(set(folders)) == len(names)
    assert safe_user_name("alice") == "alice" and safe_user_name("john.doe") == "john.doe"  # as before
    for folder in folders:
        assert "/" not in folder and "\\" not in folder and folder not in (".", "..") and not folder.startswith(".")
    assert safe_user_name("José") == safe_user_name("Jose\u0301")  # the same name, composed or not


def test_a_folder_marked_as_another_users_is_refused(tmp_path):
    folder = tmp_path / "users" / "x"
    claim_user_folder(folder, "first")
    claim_user_folder(folder, "first")  # the owner again: fine
    with pytest.raises(WorkspaceError, match="another user"):
        claim_user_folder(folder, "second")
    assert (folder.stat().st_mode & 0o777) == 0o700


def test_dashboard_actions_are_audited_with_the_user(tmp_path):
    session = Session(Workspace.for_user(tmp_path / "ws", "alice").ensure(), JobRunner([], poll_s=60))
    session.audit_log = AuditLog.in_workspace(tmp_path / "ws")
    make_run(session, "done").update_status(state="completed")
    state = RunsState(session)
    state.refresh()
    state.select("done")
    state.request_delete()
    state.confirm()
    assert {"action": "delete", "user": "alice", "run": "done"}.items() <= session.audit_log.entries()[-1].items()
