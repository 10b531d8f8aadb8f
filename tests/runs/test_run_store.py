"""RunStore: creating, opening and the status/control files of one run directory."""

from __future__ import annotations

import errno
import json
import os
import re
import threading
from pathlib import Path

import pytest

from gemma_jax.cli import main
from gemma_jax.config import JobConfig, MethodConfig
from gemma_jax.runs import RunDirError, RunStore
from gemma_jax.runs.run_store import RunsDirError


@pytest.fixture
def cfg(tmp_path):
    return JobConfig(name="demo", runs_dir=str(tmp_path / "runs"), method=MethodConfig(lora_rank=4))


def _leftovers(path):
    return [p.name for p in path.rglob("*") if p.name.startswith(".")]


def test_create_lays_out_the_run_directory(cfg):
    store = RunStore.create(cfg)
    assert re.fullmatch(r"demo-\d{8}-\d{6}", store.run_id)
    assert store.path.parent.name == "runs"
    for name in ("config.yaml", "status.json", "metrics.jsonl", "log.txt", "samples.jsonl"):
        assert (store.path / name).is_file()
    for name in ("events", "checkpoints", "eval", "export"):
        assert (store.path / name).is_dir()
    assert store.metrics_path.read_bytes() == b"" and store.log_path.read_bytes() == b""
    assert store.config() == cfg
    status = store.read_status()
    assert status["state"] == "queued" and status["step"] == 0 and status["pid"] is None
    assert {"total_steps", "started", "updated", "error", "created"} <= set(status)
    assert not store.control_path.exists()
    assert _leftovers(store.path.parent) == []


def test_create_never_overwrites(cfg):
    first = RunStore.create(cfg, run_id="fixed")
    first.update_status(state="completed", step=9)
    with pytest.raises(FileExistsError, match="already exists; choose another run_id"):
        RunStore.create(cfg, run_id="fixed")
    assert first.read_status()["step"] == 9
    ids = {RunStore.create(cfg).run_id for _ in range(3)}  # same second: suffixes keep them apart
    assert len(ids) == 3
    assert _leftovers(first.path.parent) == []


def test_create_cleans_names_and_checks_run_ids(cfg, tmp_path):
    odd = JobConfig(name="my run/v2", runs_dir=str(tmp_path / "r"))
    assert RunStore.create(odd).run_id.startswith("my-run-v2-")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file; set runs_dir to a folder"):
        RunStore.create(JobConfig(runs_dir=str(tmp_path / "file")))
    for bad in ("", "a/b", ".hidden", " x", "a\nb", "red\x1b[31m", "rtl\u202e"):
        with pytest.raises(ValueError, match="must be a plain folder name"):
            RunStore.create(cfg, run_id=bad)


def _refuse_creating_dirs(monkeypatch, code: int) -> None:
    """Make the runs folder refuse our temporary folder as a read-only or foreign one would (root ignores
    permissions, so a chmod cannot show it in every test environment)."""
    mkdir = Path.mkdir

    def refusing(self, *args, **kwargs):
        if self.name.startswith(".creating-"):
            raise OSError(code, os.strerror(code), str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refusing)


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (errno.EACCES, "you do not have permission to write there"),
        (errno.EPERM, "writing there is not permitted"),
        (errno.EROFS, "it is on a read-only file system"),
        (errno.ENOSPC, "the disk is full. Free some space there"),
    ],
)
def test_a_runs_dir_that_cannot_be_written_is_said_plainly(cfg, monkeypatch, code, said):
    """The errno message named our temporary folder ('.creating-<hex>'), which means nothing to the user."""
    _refuse_creating_dirs(monkeypatch, code)
    with pytest.raises(RunsDirError) as info:
        RunStore.create(cfg)
    message = str(info.value)
    assert message.startswith(f"Cannot create a run in runs_dir {cfg.runs_dir}: {said}")
    assert ".creating" not in message and "Errno" not in message
    assert isinstance(info.value, OSError)  # callers that catch OSError keep working


def test_a_run_that_cannot_be_filled_in_is_said_plainly_and_leaves_nothing(cfg, monkeypatch):
    def read_only(path, _cfg):
        raise OSError(errno.EROFS, "Read-only file system", str(path / ".status.json.x1y2.tmp"))

    monkeypatch.setattr(RunStore, "_populate", staticmethod(read_only))
    with pytest.raises(RunsDirError, match="it is on a read-only file system") as info:
        RunStore.create(cfg)
    assert ".tmp" not in str(info.value) and ".creating" not in str(info.value)
    assert _leftovers(Path(cfg.runs_dir)) == []


def test_a_runs_dir_under_a_file_is_said_plainly(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RunsDirError, match="part of its path is a file, not a folder") as info:
        RunStore.create(JobConfig(runs_dir=str(tmp_path / "afile" / "runs")))
    assert "Errno" not in str(info.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes read-only folders")
def test_a_read_only_runs_dir(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir(mode=0o555)
    try:
        with pytest.raises(RunsDirError, match="you do not have permission to write there"):
            RunStore.create(JobConfig(runs_dir=str(runs)))
    finally:
        runs.chmod(0o755)


def test_train_says_the_runs_dir_cannot_be_written(tmp_path, monkeypatch, capsys):
    _refuse_creating_dirs(monkeypatch, errno.EACCES)
    runs = tmp_path / "runs"
    argv = ["train", "--set", f"runs_dir={runs}", "--set", "model.source=tiny:gemma3", "--skip-memory-check"]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert f"Cannot create a run in runs_dir {runs}: you do not have permission to write there" in err
    assert ".creating" not in err and "Traceback" not in err


def test_open(cfg, tmp_path):
    store = RunStore.create(cfg)
    assert RunStore.open(store.path).read_status() == store.read_status()
    with pytest.raises(RunDirError, match="no such run directory"):
        RunStore.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="not a run directory"):
        RunStore.open(tmp_path / "empty")
    with pytest.raises(RunDirError, match="is a file"):
        RunStore.open(store.config_path)


def test_update_status(cfg):
    store = RunStore.create(cfg)
    before = store.config_path.read_bytes()
    status = store.update_status(state="running", pid=os.getpid(), total_steps=10, error=None)
    assert status == store.read_status()
    assert status["started"] and status["updated"] and status["error"] is None
    assert isinstance(status["pid_started"], float)
    started = status["started"]
    status = store.update_status(step=3, state="paused")
    assert status["started"] == started and status["step"] == 3 and status["total_steps"] == 10
    with pytest.raises(ValueError, match="unknown run state 'done'; use one of queued"):
        store.update_status(state="done")
    with pytest.raises(ValueError, match="status.json has no key phase; add it to gemma_jax/runs/schema.py"):
        store.update_status(phase="loading model")  # a key the schema does not name: readers would not know it
    assert store.config_path.read_bytes() == before
    assert _leftovers(store.path) == []


def test_damaged_status_is_reported_and_replaced(cfg):
    store = RunStore.create(cfg)
    store.status_path.write_text("{half")
    with pytest.raises(RunDirError, match="not valid JSON"):
        store.read_status()
    assert store.update_status(state="failed", error="boom")["state"] == "failed"
    store.status_path.unlink()
    with pytest.raises(RunDirError, match="missing"):
        store.read_status()


def test_reader_never_sees_a_partial_status(cfg):
    store = RunStore.create(cfg)
    stop = threading.Event()
    seen: list[int] = []
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(json.loads(store.status_path.read_text())["step"])
            except (ValueError, KeyError, OSError) as err:
                errors.append(repr(err))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for step in range(200):
            store.update_status(step=step, state="running", error="x" * (step * 37 % 4000))
    finally:
        stop.set()
        thread.join()
    assert errors == [] and seen and seen == sorted(seen)
    assert store.read_status()["step"] == 199
    assert _leftovers(store.path) == []


def test_control_requests(cfg):
    store = RunStore.create(cfg)
    assert store.read_control() is None
    req = store.request("pause")
    assert store.read_control() == req and req["action"] == "pause" and req["id"] and req["time"]
    newer = store.request("abort")
    store.clear_control(req["id"])  # an older id must not remove the newer request
    assert store.read_control() == newer
    store.clear_control(newer["id"])
    assert store.read_control() is None
    store.clear_control()  # nothing to clear is fine
    with pytest.raises(ValueError, match="unknown action 'stop'; use one of pause, resume, save, abort"):
        store.request("stop")
    store.control_path.write_text("not json")
    assert store.read_control() is None
    store.clear_control()
    assert not store.control_path.exists()
    assert _leftovers(store.path) == []
