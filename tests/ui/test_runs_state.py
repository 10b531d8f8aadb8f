"""The Runs page state on real run directories: listing, incremental refresh, actions per state."""

import os

from ui_helpers import make_run, make_session, train_steps

from gemma_jax.jobs import JobRunner
from gemma_jax.runs import RunStore
from ui.state.runs import RunsState, available_actions, default_run


def test_lists_runs_newest_first_and_follows_progress_incrementally(tmp_path):
    session = make_session(tmp_path)
    old = make_run(session, "old")
    old.update_status(created="2026-01-01T00:00:00+00:00")
    new = make_run(session, "new")
    new.update_status(state="running", pid=os.getpid())
    train_steps(new, 1, 5, total=20, eval_every=5)
    (session.workspace.runs_dir / "not-a-run").mkdir()
    state = RunsState(session)
    assert state.refresh()
    assert [row["run"] for row in state.rows] == ["new", "old"]
    row = state.rows[0]
    assert (row["state"], row["model"], row["method"]) == ("running", "tiny:gemma3", "lora")
    assert row["progress"] == "5/20 (25%)"
    assert row["best eval loss"] == f"{2.5 - 5 / 20:.4f}"
    train_steps(new, 6, 10, total=20, eval_every=5)
    assert state.refresh()
    assert state.rows[0]["progress"] == "10/20 (50%)"
    assert state.rows[0]["best eval loss"] == f"{2.5 - 10 / 20:.4f}"
    assert state.rows[0]["loss"] == f"{3.0 - 10 / 20:.4f}"
    assert not state.refresh()  # nothing changed
    assert state.queue_text == "1 running · 0 queued"


def test_a_dead_process_shows_as_failed(tmp_path):
    session = make_session(tmp_path)
    run = make_run(session, "crashed")
    run.update_status(state="running", pid=2**22 + 12345)
    state = RunsState(session)
    state.refresh()
    assert state.rows[0]["state"] == "failed"
    assert "exited without finishing" in state.rows[0]["note"]


def test_actions_follow_the_state():
    assert available_actions(None) == {"open": False, "resume": False, "clone": False, "delete": False}
    for active in ("queued", "running", "paused"):
        assert not available_actions(active)["delete"]
        assert not available_actions(active)["resume"]
    assert available_actions("failed") == {"open": True, "resume": True, "clone": True, "delete": True}
    assert available_actions("completed")["delete"] and not available_actions("completed")["resume"]


def test_delete_needs_confirmation_and_is_refused_for_active_runs(tmp_path):
    session = make_session(tmp_path, JobRunner([], poll_s=60))
    make_run(session, "done").update_status(state="completed")
    make_run(session, "busy").update_status(state="running", pid=os.getpid())
    state = RunsState(session)
    state.refresh()
    state.select("busy")
    assert not state.actions["delete"]
    state.request_delete()
    assert state.confirm_delete is None
    assert "stop it before deleting" in session.notifications[-1][2]
    state.confirm_delete = "busy"  # even past the disabled button, the runner refuses
    state.confirm()
    assert "stop it first" in session.notifications[-1][2] and (session.workspace.runs_dir / "busy").exists()
    state.select("done")
    state.request_delete()
    assert state.confirm_delete == "done" and (session.workspace.runs_dir / "done").exists()
    state.cancel_delete()
    assert state.confirm_delete is None and (session.workspace.runs_dir / "done").exists()
    state.request_delete()
    state.confirm()
    assert not (session.workspace.runs_dir / "done").exists()
    assert [row["run"] for row in state.rows] == ["busy"]


def test_clone_and_open(tmp_path):
    session = make_session(tmp_path, JobRunner([], poll_s=60))
    make_run(session, "stopped", "train.max_steps=7").update_status(state="aborted")
    state = RunsState(session)
    state.refresh()
    state.select("stopped")
    state.clone_selected()
    assert session.clone_config.train.max_steps == 7 and session.page == "New run"
    state.open_selected()
    assert (session.page, session.selected_run) == ("Training", "stopped")


def test_resume_queues_the_run_and_shows_its_place(tmp_path):
    # "/bin/false" stands in for Python so the queued job ends at once instead of training.
    runner = JobRunner([], poll_s=60, python="/bin/false")
    session = make_session(tmp_path, runner)
    make_run(session, "busy").update_status(state="running", pid=os.getpid())  # holds the only slot
    make_run(session, "stopped").update_status(state="aborted")
    state = RunsState(session)
    state.refresh()
    state.select("stopped")
    state.resume_selected()
    assert session.notifications[-1][1] == "success"
    rows = {row["run"]: row for row in state.rows}
    assert rows["stopped"]["state"] == "queued (#1)"
    assert state.queue_text.endswith("1 queued")


def test_without_a_runner_actions_explain_themselves(tmp_path):
    session = make_session(tmp_path)
    make_run(session, "stopped").update_status(state="aborted")
    state = RunsState(session)
    state.refresh()
    state.resume_selected()
    assert "Select a run" in session.notifications[-1][2]
    state.select("stopped")
    state.resume_selected()
    assert session.notifications[-1][1] == "error" and "no job runner" in session.notifications[-1][2]


def test_the_default_run_is_the_running_one_else_the_newest(tmp_path):
    session = make_session(tmp_path)
    assert default_run(session.workspace.runs_dir, session.confinement) is None
    make_run(session, "old").update_status(state="running", pid=os.getpid(), created="2026-01-01T00:00:00+00:00")
    make_run(session, "new").update_status(state="completed", created="2026-01-05T00:00:00+00:00")
    make_run(session, "crashed").update_status(
        state="running", pid=2**22 + 12345, created="2026-01-09T00:00:00+00:00"
    )  # its process is gone: not running, only the newest
    assert default_run(session.workspace.runs_dir, session.confinement) == "old"
    assert session.default_run() == "old"
    RunStore.open(session.workspace.runs_dir / "old").update_status(state="completed")
    assert session.default_run() == "crashed"
    (session.workspace.runs_dir / ".creating-x").mkdir()  # half-made runs and non-runs are never chosen
    (session.workspace.runs_dir / "zzz-not-a-run").mkdir()
    assert session.default_run() == "crashed"


def test_a_double_click_on_a_row_opens_the_run_on_training(tmp_path):
    session = make_session(tmp_path)
    make_run(session, "a").update_status(state="completed")
    make_run(session, "b").update_status(state="completed")
    state = RunsState(session)
    state.refresh()
    assert not state.click("a", now=10.0)
    assert not state.click("b", now=10.2)  # another row: a new first click
    assert not state.click("b", now=11.0)  # too slow
    assert session.page == "Runs"
    assert state.click("b", now=11.3)
    assert (session.page, session.selected_run, state.selected) == ("Training", "b", "b")
    assert not state.click("b", now=11.5)  # a third click starts over


def _measured(storage, timeout_s: float = 30.0):
    import time

    storage.measure()
    deadline = time.monotonic() + timeout_s
    while not storage.poll():
        assert time.monotonic() < deadline, "storage was not measured in time"
        time.sleep(0.05)
    return storage


def test_storage_card_lists_runs_and_uploads_with_sizes_and_no_server_paths(tmp_path):
    from ui.state.session import Session
    from ui.state.storage import StorageState
    from ui.workspace import Workspace

    session = Session(Workspace.for_user(tmp_path / "ws", "ada").ensure(), None)
    make_run(session, "first")
    session.workspace.save_upload("faq.csv", b"q,a\n" * 250)
    storage = _measured(StorageState(session))
    assert not storage.measuring
    rows = {(row["what"], row["name"]): row for row in storage.rows}
    assert set(rows) == {("run", "first"), ("dataset", "faq.csv")}
    assert rows["dataset", "faq.csv"]["size"] == "1.0 KB"
    assert rows["dataset", "faq.csv"]["where"] == "local" and rows["dataset", "faq.csv"]["cost a month"] == "-"
    assert storage.summary.startswith("Local disk ") and "Cloud Storage" not in storage.summary
    assert str(tmp_path) not in repr(storage.rows) + storage.summary
    storage.measure()  # measuring again replaces the rows
    assert storage.measuring
    assert _measured(storage).rows


def test_a_stopped_run_reads_stopped_with_the_resume_button_named(tmp_path):
    """The Training page says "stopped"; the Runs table must not say "aborted" for the same run."""
    session = make_session(tmp_path, JobRunner([], poll_s=60))
    message = "stopped at step 3 (stop requested); checkpoint saved. Continue with: gemma-jax train --resume /x/r"
    make_run(session, "halted").update_status(state="aborted", error=message)
    state = RunsState(session)
    state.refresh()
    (row,) = [r for r in state.rows if r["run"] == "halted"]
    assert row["state"] == "stopped"
    assert row["note"] == "stopped at step 3 (stop requested); checkpoint saved. Continue it with Resume on this page."
