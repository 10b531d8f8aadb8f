"""A run's time is its running stretches: pauses, stops and dead processes are not counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gemma_jax.config import JobConfig
from gemma_jax.runs import run_store as run_store_module
from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.run_time import parse_time, running_seconds

T0 = datetime(2026, 12, 4, 9, 0, 0, tzinfo=UTC)


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="seconds")


@pytest.fixture
def tiny_run_store(tmp_path) -> RunStore:
    return RunStore.create(JobConfig(name="clock", runs_dir=str(tmp_path / "runs")))


@pytest.fixture
def clock(monkeypatch):
    """Sets the time status.json stamps; `clock(s)` moves it to T0 + s seconds."""
    now = {"stamp": _at(0)}
    monkeypatch.setattr(run_store_module, "now_iso", lambda: now["stamp"])

    def move(seconds: float) -> None:
        now["stamp"] = _at(seconds)

    return move


def _seconds(store: RunStore, at: float) -> float:
    return running_seconds(store.read_status(), parse_time(_at(at)))


def test_pauses_and_the_gap_before_a_resume_are_not_counted(tiny_run_store, clock):
    store = tiny_run_store
    clock(0)
    store.update_status(state="running", pid=101)
    clock(10)
    store.update_status(durable=False, step=1)
    assert _seconds(store, 15) == 15  # running: counted up to now
    clock(20)
    store.update_status(state="paused")
    assert _seconds(store, 500) == 20  # paused: the clock stands still
    clock(80)
    store.update_status(state="running")
    clock(90)
    store.update_status(state="aborted")  # stop early
    assert _seconds(store, 90_000) == 30
    clock(86_400)  # resumed the next day by a new process
    store.update_status(state="running", pid=202)
    clock(86_430)
    store.update_status(state="completed")
    assert _seconds(store, 99_999) == 60


def test_a_killed_process_counts_up_to_its_last_sign_of_life(tiny_run_store, clock):
    store = tiny_run_store
    clock(0)
    store.update_status(state="running", pid=101)
    clock(40)
    store.update_status(durable=False, step=4)  # then kill -9: status still says running
    clock(3_600)
    store.update_status(state="running", pid=202)  # --resume an hour later
    clock(3_610)
    store.update_status(state="completed")
    assert _seconds(store, 5_000) == 50


def test_the_job_runner_and_the_trainer_naming_the_same_process_is_one_stretch(tiny_run_store, clock):
    store = tiny_run_store
    clock(0)
    store.update_status(state="running", pid=101, launcher_pid=101)
    clock(5)
    store.update_status(state="running", pid=101)
    clock(25)
    store.update_status(state="completed")
    assert _seconds(store, 100) == 25


def test_runs_written_before_run_seconds_count_from_start_to_last_update():
    status = {"state": "completed", "started": _at(0), "updated": _at(120)}
    assert running_seconds(status, parse_time(_at(9_999))) == 120
    assert running_seconds({"state": "running", "started": _at(0)}, parse_time(_at(7))) == 7
    assert running_seconds({"state": "queued"}, 0.0) is None
