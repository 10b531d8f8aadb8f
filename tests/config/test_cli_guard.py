"""No Python traceback reaches a user: the CLI boundary turns any unexpected error into one line and a log."""

import subprocess
import sys

import pytest

from gemma_jax import cli
from gemma_jax.command_line import guarded
from gemma_jax.messages import MAX_MESSAGE_CHARS, cap_message


def test_an_unexpected_error_is_one_line_with_the_log_holding_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GEMMA_JAX_LOG_DIR", str(tmp_path))

    def broken(args):
        raise KeyError("an injected bug")

    monkeypatch.setattr(cli, "_runs", broken)
    assert cli.main(["runs"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "gemma-jax runs: unexpected error (KeyError: 'an injected bug')" in err
    log = next(tmp_path.glob("gemma-jax-runs-*.log"))
    assert str(log) in err and "Traceback" in log.read_text() and "an injected bug" in log.read_text()


def test_user_errors_and_deep_nesting_are_messages(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GEMMA_JAX_LOG_DIR", str(tmp_path))

    def nested():
        raise RecursionError("maximum recursion depth exceeded")

    assert guarded("prog", nested) == 2
    assert "nested too deeply" in capsys.readouterr().err
    assert guarded("prog", lambda: (_ for _ in ()).throw(ValueError("x" * 100_000))) == 2
    err = capsys.readouterr().err
    assert len(err) < MAX_MESSAGE_CHARS + 100 and "more characters" in err


def test_cap_message_keeps_short_text_whole():
    assert cap_message("short") == "short"
    capped = cap_message("y" * 5000, 100)
    assert len(capped) < 130 and capped.startswith("y" * 60)


@pytest.mark.parametrize("module", ["gemma_jax.evaluate", "gemma_jax.export"])
def test_the_job_modules_have_the_same_boundary(tmp_path, module):
    done = subprocess.run(
        [sys.executable, "-m", module, str(tmp_path / "no-such-run")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.strip()


def test_control_of_a_finished_or_dead_run_is_refused(tmp_path, capsys):
    from gemma_jax.config import JobConfig
    from gemma_jax.runs import RunStore

    store = RunStore.create(JobConfig(runs_dir=str(tmp_path)))
    store.update_status(state="completed")
    assert cli.main(["control", str(store.path), "pause"]) == 2
    assert "is completed: no process is there to pause" in capsys.readouterr().err
    store.update_status(state="running", pid=2**22 + 17)  # a process that is not there
    assert cli.main(["control", str(store.path), "abort"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert store.read_control() is None


def test_control_of_a_run_whose_folder_cannot_be_written_names_the_folder(tmp_path, capsys, monkeypatch):
    import os

    from gemma_jax.config import JobConfig
    from gemma_jax.runs import RunStore, control_queue

    store = RunStore.create(JobConfig(runs_dir=str(tmp_path)))
    store.update_status(state="running", pid=os.getpid())

    def refused(path, data, durable=True):
        raise PermissionError(13, "Permission denied", str(path.parent / ".control.json.tmp-8f2a"))

    monkeypatch.setattr(control_queue, "atomic_write_json", refused)
    assert cli.main(["control", str(store.path), "pause"]) == 2
    err = capsys.readouterr().err
    assert f"cannot leave the request in {store.path}: Permission denied" in err
    assert ".tmp-" not in err and "Traceback" not in err
