"""A damaged checkpoint is named, with the previous one offered, never a traceback; a resume falls back (issue 13)."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run

from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.run_model import load_run_model
from gemma_jax.train.state_restore import UnreadableCheckpoint
from gemma_jax.train.trainer import train_run

pytestmark = pytest.mark.slow  # a tiny run is trained once for the module (seconds)


def damage(run_dir: Path, kind: str) -> int:
    """Damage the run's newest checkpoint the way `kind` says; returns the step that is now unreadable."""
    checkpoints = run_dir / "checkpoints"
    if kind == "empty step folder":
        for child in (checkpoints / "3").iterdir():
            subprocess.run(["rm", "-rf", str(child)], check=True)
        return 3
    if kind == "newer empty step folder":
        (checkpoints / "4").mkdir()
        return 4
    if kind == "garbage _METADATA":
        (checkpoints / "3" / "trainable" / "_METADATA").write_text("garbage{{")
        return 3
    if kind == "truncated files":
        for data in (checkpoints / "3" / "trainable" / "d").iterdir():
            data.write_bytes(data.read_bytes()[:10])
        return 3
    if kind == "deleted item":
        subprocess.run(["rm", "-rf", str(checkpoints / "3" / "trainable")], check=True)
        return 3
    raise AssertionError(kind)


KINDS = ["empty step folder", "newer empty step folder", "garbage _METADATA", "truncated files", "deleted item"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_checkpoint_is_named_with_the_previous_one_offered(tmp_path_factory, kind):
    run_dir = tiny_run(tmp_path_factory, run_id=f"damaged-{KINDS.index(kind)}")
    step = damage(run_dir, kind)
    with pytest.raises(UnreadableCheckpoint) as refused:
        load_run_model(str(run_dir))
    message = str(refused.value)
    assert f"checkpoint step {step}" in message and f"--step {step - 1}" in message and len(message) < 1200
    _, loaded = load_run_model(str(run_dir), step=step - 1)  # the offered one works
    assert loaded == step - 1


def test_the_cli_and_job_modules_answer_with_the_message_not_a_traceback(tmp_path_factory):
    run_dir = tiny_run(tmp_path_factory, run_id="damaged-cli")
    damage(run_dir, "truncated files")
    for command in (
        ["-m", "gemma_jax.cli", "generate", str(run_dir), "--prompt", "hi", "--max-new-tokens", "2"],
        ["-m", "gemma_jax.export", str(run_dir)],
    ):
        done = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 2, done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "never retrieved" not in done.stderr
        assert "checkpoint step 3" in done.stderr and "--step 2" in done.stderr


def test_a_resume_falls_back_to_the_last_good_step_and_keeps_the_damaged_folder(tmp_path_factory):
    run_dir = tiny_run(tmp_path_factory, run_id="damaged-resume")
    damage(run_dir, "truncated files")
    store = RunStore.open(str(run_dir))
    store.update_status(state="failed")
    assert train_run(str(run_dir), progress=False) == "completed", store.read_status()
    log = store.log_path.read_text()
    assert "checkpoint step 3" in log and "resuming from step 2 instead" in log
    assert len(list((run_dir / "checkpoints").glob("damaged-3-*"))) == 1  # kept, not deleted
    assert load_run_model(str(run_dir))[1] == 3  # step 3 trained again and saved anew
