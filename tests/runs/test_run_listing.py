"""list_runs(): newest first, tolerant of broken directories, and honest about dead processes."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import unicodedata

import yaml

from gemma_jax.cli import main
from gemma_jax.config import JobConfig, MethodConfig, ModelConfig
from gemma_jax.runs import RunStore, format_runs_table, list_runs


def _make(runs_dir, run_id, created, **status):
    cfg = JobConfig(runs_dir=str(runs_dir), model=ModelConfig(source="tiny:gemma2"), method=MethodConfig(kind="full"))
    store = RunStore.create(cfg, run_id=run_id)
    store.update_status(created=created, **status)
    return store


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", "pass"])
    proc.wait()  # reaped: the pid no longer exists
    return proc.pid


def test_missing_or_empty_runs_dir(tmp_path):
    assert list_runs(tmp_path / "nothing") == []
    assert list_runs(tmp_path) == []
    assert format_runs_table([]) == "no runs yet"


def test_summaries_sorted_newest_first_with_losses(tmp_path):
    old = _make(tmp_path, "old", "2024-01-01T10:00:00+00:00", state="completed", step=10, total_steps=10)
    _make(tmp_path, "new", "2024-06-01T10:00:00+00:00", state="queued")
    for step, loss, eval_loss in [(1, 3.0, None), (2, 2.0, 2.5), (3, 1.5, 2.2), (4, 1.2, 2.4)]:
        record = {"step": step, "loss": loss} | ({"eval_loss": eval_loss} if eval_loss else {})
        old.append_metrics(record)
    old.append_metrics({"step": 5, "loss": float("nan")})  # written as null: the last real loss stays
    runs = list_runs(tmp_path)
    assert [r.run_id for r in runs] == ["new", "old"]
    done = runs[1]
    assert (done.state, done.step, done.total_steps) == ("completed", 10, 10)
    assert (done.model_source, done.method_kind) == ("tiny:gemma2", "full")
    assert done.last_loss == 1.2 and done.best_eval_loss == 2.2 and done.path == old.path
    assert runs[0].last_loss is None and runs[0].state == "queued"
    table = format_runs_table(runs).splitlines()
    assert table[0].split()[:3] == ["RUN", "STATE", "STEP"]
    assert table[1].startswith("new") and "10/10" in table[2] and "1.2000" in table[2] and "2.2000" in table[2]


def test_broken_directories_are_unknown_not_fatal(tmp_path):
    _make(tmp_path, "good", "2024-01-01T00:00:00+00:00", state="running", pid=os.getpid())
    corrupt = _make(tmp_path, "corrupt", "2024-01-02T00:00:00+00:00")
    corrupt.status_path.write_text('{"state": "runn')
    listy = _make(tmp_path, "listy", "2024-01-02T00:00:00+00:00")
    listy.status_path.write_text("[1, 2]")
    no_state = _make(tmp_path, "nostate", "2024-01-02T00:00:00+00:00")
    no_state.status_path.write_text('{"step": "x"}')
    half = _make(tmp_path, "half", "2024-01-02T00:00:00+00:00")
    half.status_path.unlink()
    half.config_path.write_text("model: [unclosed\n")
    (half.path / "metrics.jsonl").write_bytes(b"\xff\xfe garbage\n{\n")
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / ".creating-abc").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    runs = {r.run_id: r for r in list_runs(tmp_path)}
    assert set(runs) == {"good", "corrupt", "listy", "nostate", "half"}
    assert runs["good"].state == "running" and runs["good"].error is None
    assert runs["corrupt"].state == "unknown" and "not valid JSON" in runs["corrupt"].error
    assert runs["listy"].state == "unknown" and "expected a JSON object" in runs["listy"].error
    assert runs["nostate"].state == "unknown" and runs["nostate"].step is None
    assert runs["half"].state == "unknown" and "status.json is missing" in runs["half"].error
    assert runs["half"].model_source is None
    assert "unknown" in format_runs_table(list(runs.values()))


def test_dead_process_reported_as_failed_without_writing(tmp_path):
    pid = _dead_pid()
    store = _make(tmp_path, "dead", "2024-01-01T00:00:00+00:00", state="running", pid=pid, step=4)
    before = store.status_path.read_bytes()
    (run,) = list_runs(tmp_path)
    assert run.state == "failed" and run.error == f"process {pid} exited without finishing"
    assert run.step == 4
    assert store.status_path.read_bytes() == before  # reported only
    assert f"process {pid} exited" in format_runs_table([run])


def test_live_process_reused_pid_and_other_host(tmp_path):
    me = os.getpid()
    _make(tmp_path, "alive", "2024-01-01T00:00:00+00:00", state="paused", pid=me)
    _make(tmp_path, "reused", "2024-01-02T00:00:00+00:00", state="running", pid=me, pid_started=1000.0)
    _make(
        tmp_path,
        "remote",
        "2024-01-03T00:00:00+00:00",
        state="running",
        pid=_dead_pid(),
        host=socket.gethostname() + "-other",
    )
    _make(tmp_path, "finished", "2024-01-04T00:00:00+00:00", state="completed", pid=_dead_pid())
    runs = {r.run_id: (r.state, r.error) for r in list_runs(tmp_path)}
    assert runs["alive"] == ("paused", None)
    assert runs["reused"] == ("failed", f"process {me} exited without finishing")
    assert runs["remote"] == ("running", None)
    assert runs["finished"] == ("completed", None)


def test_status_json_is_plain_json(tmp_path):
    store = _make(tmp_path, "x", "2024-01-01T00:00:00+00:00")
    assert json.loads(store.status_path.read_text())["created"] == "2024-01-01T00:00:00+00:00"


def _display_columns(line: str) -> dict[int, str]:
    """display column -> the character that starts there (wide characters take two)."""
    columns, at = {}, 0
    for ch in line:
        columns[at] = ch
        at += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return columns


def test_every_run_is_one_safe_line_whatever_its_files_say(tmp_path, capsys):
    """A multi-line error, and names, states or models holding line breaks, terminal escapes or bytes that
    are not UTF-8 (anyone who can write the runs folder writes them) keep one aligned line per run, and
    nothing reaches the terminal that could drive it."""
    multi = _make(tmp_path, "multi", "2024-01-01T00:00:00+00:00", state="failed")
    multi.update_status(error="Found 3 problems in qa.jsonl:\n  - line 1: bad\n  - line 2: worse")
    evil = _make(tmp_path, "evil", "2024-01-02T00:00:00+00:00", state="queued")  # --run-id refuses the name
    evil.path.rename(tmp_path / "evil\x1b[2J\x1b]0;pwned\x07\nna\rme")
    odd = _make(tmp_path, "odd", "2024-01-03T00:00:00+00:00")
    status = json.loads(odd.status_path.read_text())
    odd.status_path.write_text(json.dumps({**status, "state": "running\x1b[5m\nblink", "error": "a\tb\x00c\u202ed"}))
    odd.config_path.write_text(
        yaml.safe_dump({"model": {"source": "tiny:\x1b[31mred\nline"}, "method": {"kind": "lo\x08\x08ra\n"}})
    )
    wide = _make(tmp_path, "日本語-run", "2024-01-04T00:00:00+00:00", state="completed")
    raw = os.path.join(os.fsencode(tmp_path), b"bad-\xff-name")
    os.mkdir(raw)
    with open(os.path.join(raw, b"status.json"), "wb") as f:
        f.write(wide.status_path.read_bytes())

    table = format_runs_table(list_runs(tmp_path))
    lines = table.split("\n")
    assert len(lines) == 1 + 5
    assert not [ch for ch in table if ch != "\n" and unicodedata.category(ch)[0] == "C"]
    table.encode("utf-8")  # no lone surrogate from the undecodable name: printing it cannot fail
    headings = ("STATE", "STEP", "MODEL", "METHOD", "LOSS", "BEST EVAL", "STARTED", "NOTE")
    starts = [lines[0].index(heading) for heading in headings]  # the header is ASCII
    for line in lines[1:]:
        columns = _display_columns(line)
        for start in starts:  # every cell starts where its heading does, after a gap
            if start < max(columns):
                assert columns.get(start - 1) == " " and columns.get(start) not in (" ", None), (line, start)
    by_name = {line.split("  ")[0]: line for line in lines[1:]}
    assert "Found 3 problems in qa.jsonl: - line 1: bad - line 2: worse" in by_name["multi"]
    assert {"evil na me", "bad-?-name", "日本語-run"} <= set(by_name)  # escapes gone, breaks now spaces
    assert re.split(r"  +", by_name["odd"])[1:4] == ["running bli…", "0", "tiny:red line"]
    assert "lo??ra" in by_name["odd"] and by_name["odd"].endswith("a b?c?d")
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out == table + "\n"


def test_long_cells_end_in_an_ellipsis(tmp_path):
    _make(tmp_path, "r" * 100, "2024-01-01T00:00:00+00:00", state="failed", error="x" * 500)
    (line,) = format_runs_table(list_runs(tmp_path)).splitlines()[1:]
    assert "r" * 63 + "…" in line and "r" * 64 not in line
    assert line.endswith("x" * 59 + "…")


def test_the_runs_command_tells_an_empty_folder_from_one_it_cannot_read(tmp_path, monkeypatch, capsys):
    from gemma_jax.cli import main

    assert main(["runs", "--runs-dir", str(tmp_path / "nothing")]) == 0
    assert capsys.readouterr().out.strip() == f"no runs yet in {tmp_path / 'nothing'}"
    a_file = tmp_path / "config.yaml"
    a_file.write_text("name: x\n")
    assert main(["runs", "--runs-dir", str(a_file)]) != 0
    assert "is a file, not a runs folder" in capsys.readouterr().err
    real_scandir = os.scandir

    def refused(path):
        if str(path) == str(tmp_path):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refused)
    assert main(["runs", "--runs-dir", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert f"cannot read the runs folder {tmp_path}: Permission denied" in err and "Traceback" not in err
