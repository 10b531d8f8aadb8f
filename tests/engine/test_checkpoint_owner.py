"""A run trains only from its own checkpoints: one pointed at another run's checkpoint.directory is refused
before anything there is read or replaced, and the owner still resumes from it."""

from __future__ import annotations

import pytest
from engine_helpers import fast_config

from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import State, Status
from gemma_jax.train.trainer import train_run

pytestmark = pytest.mark.slow  # two tiny runs (seconds each)


def test_a_new_run_cannot_adopt_another_runs_checkpoints(tmp_path):
    shared = tmp_path / "my-checkpoints"
    settings = (f"checkpoint.directory={shared}", "checkpoint.keep=1", "checkpoint.keep_best=false")
    owner = RunStore.create(fast_config(tmp_path, "train.max_steps=2", *settings), run_id="owner")
    assert train_run(str(owner.path), progress=False) == State.COMPLETED
    before = sorted(p.name for p in shared.iterdir())
    assert "2" in before

    intruder = RunStore.create(fast_config(tmp_path, "train.max_steps=6", *settings), run_id="intruder")
    assert train_run(str(intruder.path), progress=False) == State.FAILED
    error = intruder.read_status()[Status.ERROR]
    assert "already holds checkpoints of run 'owner' (latest step 2)" in error and "empty folder" in error
    assert sorted(p.name for p in shared.iterdir()) == before  # nothing replaced, nothing deleted

    # The owner itself goes on from its step 2 (a longer run resumed with the same folder).
    config = owner.config_path.read_text().replace("max_steps: 2", "max_steps: 3")
    owner.config_path.write_text(config)
    assert train_run(str(owner.path), progress=False) == State.COMPLETED
    assert "resumed from checkpoint step 2" in owner.log_path.read_text()
