"""Control requests wait their turn: a confirmed learning-rate change is never replaced by a later click."""

from __future__ import annotations

import json
import threading

from gemma_jax.config import JobConfig
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.control import ControlChannel


def _store(tmp_path) -> RunStore:
    return RunStore.create(JobConfig(name="q", runs_dir=str(tmp_path / "runs")))


def test_set_lr_then_save_both_reach_the_run_in_order(tmp_path):
    store = _store(tmp_path)
    rates = []
    channel = ControlChannel(store, on_set_lr=rates.append)
    store.request("set_lr", value=5e-4)  # clicked while the model still loads
    store.request("save")  # then Save checkpoint, before the run read either
    assert [r["action"] for r in store.pending_controls()] == ["set_lr", "save"]
    assert channel.poll() == "save" and rates == [5e-4]  # the rate is applied before the save
    assert store.read_control() is None and not store.control_path.exists()
    assert store.read_status()["control_action"] == "save"


def test_a_newer_request_outlives_the_one_taken_before_it(tmp_path):
    store = _store(tmp_path)
    first = store.request("pause")
    second = store.request("resume")
    store.clear_control(first["id"])
    assert store.pending_controls() == [second]
    store.clear_control()
    assert store.pending_controls() == []


def test_a_request_file_written_before_queues_is_still_read(tmp_path):
    store = _store(tmp_path)
    store.control_path.write_text(json.dumps({"action": "abort", "id": "old1", "time": "t"}))
    assert store.read_control()["action"] == "abort"
    store.clear_control("old1")
    assert store.read_control() is None


def test_writers_at_the_same_time_lose_no_request(tmp_path):
    store = _store(tmp_path)

    def click(n: int) -> None:
        for _ in range(n):
            store.request("save")

    threads = [threading.Thread(target=click, args=(10,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.pending_controls()) == 40
    assert len({r["id"] for r in store.pending_controls()}) == 40
