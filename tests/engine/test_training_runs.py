"""Whole runs in this process: learning, divergence, exact resume, user errors."""

import json

import pytest
from engine_helpers import fast_config
from training_helpers import assert_resumed_run_matches, straight_and_resumed_runs, train_metrics

from gemma_jax.cli import main as cli_main
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.trainer import Trainer, train_run


def test_tiny_model_loss_falls_on_example_data(tmp_path):
    cfg = fast_config(
        tmp_path,
        "method.kind=full",
        "optimizer.learning_rate=3e-3",
        "train.max_steps=40",
        "schedule.warmup_steps=4",
        "eval.every_steps=20",
        "eval.max_batches=2",
    )
    store = RunStore.create(cfg)
    assert train_run(str(store.path), progress=False) == "completed"
    metrics = train_metrics(store)
    first, last = sum(m["loss"] for m in metrics[:5]) / 5, sum(m["loss"] for m in metrics[-5:]) / 5
    assert last < first - 1.0, (first, last)
    evals = [m["eval_loss"] for m in metrics if "eval_loss" in m]
    assert len(evals) == 2 and evals[-1] < evals[0]
    for key in ("lr", "grad_norm", "tokens_per_s", "step_time_s", "tflops_per_device", "mfu", "epoch"):
        assert key in metrics[-1]
    assert list((store.path / "events").iterdir()), "TensorBoard events written"
    status = store.read_status()
    assert status["state"] == "completed" and status["step"] == 40 and status["last_checkpoint_step"] == 40


def test_diverging_loss_stops_with_a_clear_error_and_keeps_the_good_checkpoint(tmp_path):
    cfg = fast_config(
        tmp_path,
        "method.kind=full",
        "optimizer.name=sgd",
        "optimizer.momentum=0",
        "optimizer.max_grad_norm=null",
        "optimizer.learning_rate=1e12",
        "schedule.name=constant",
        "train.max_steps=20",
        "checkpoint.every_steps=1",
    )
    store = RunStore.create(cfg)
    assert train_run(str(store.path), progress=False) == "failed"
    status = store.read_status()
    assert "diverged" in status["error"] and "learning_rate" in status["error"]
    good = status.get("last_checkpoint_step")
    assert good is not None and good == status["step"]  # the bad step was not applied
    assert f"at step {good + 1}" in status["error"]
    assert all(m["loss"] is not None for m in train_metrics(store))  # the bad step is not logged as a loss


@pytest.mark.parametrize("stop_step", [3, 9])  # mid-epoch, and in the second epoch
def test_stopped_and_resumed_run_reproduces_uninterrupted_run(tmp_path, stop_step):
    overrides = (
        "train.max_steps=12",
        "checkpoint.every_steps=100",
        "data.validation_fraction=0.5",
        "optimizer.learning_rate=1e-2",
    )
    reference, store, stopped = straight_and_resumed_runs(tmp_path, overrides, stop_step)
    assert stopped["step"] == stop_step
    assert "--resume" in stopped["error"]
    assert_resumed_run_matches(reference, store, steps=12)


def test_config_errors_come_back_as_messages(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("optimizer:\n  learnig_rate: 1e-4\nmethod:\n  lora_rank: 0\ntrain:\n  batch_size: 6\n")
    assert cli_main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'learning_rate'" in err and "Traceback" not in err

    # Checked (with the memory estimate) before a run directory exists: nothing to clean up.
    config.write_text(f"runs_dir: {tmp_path / 'runs'}\nmethod:\n  lora_rank: 0\ntrain:\n  batch_size: 6\n")
    assert cli_main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "lora_rank" in err and "batch_size" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()

    # A run that reaches the engine with a bad config fails with the message in status.json.
    store = RunStore.create(fast_config(tmp_path, "method.lora_rank=0"))
    assert train_run(str(store.path), progress=False) == "failed"
    status = json.loads((store.path / "status.json").read_text())
    assert status["state"] == "failed" and "lora_rank" in status["error"]


def test_sequence_longer_than_context_is_a_config_error(tmp_path):
    store = RunStore.create(fast_config(tmp_path, "data.sequence_length=4096"))
    assert train_run(str(store.path), progress=False) == "failed"
    assert "sequence_length" in store.read_status()["error"]


def test_stop_right_after_a_periodic_save_and_resuming_a_finished_run(tmp_path):
    store = RunStore.create(fast_config(tmp_path, "train.max_steps=6", "checkpoint.every_steps=2"))
    trainer = Trainer(store, progress=False, abort_after_step=4)  # step 4 was just saved periodically
    assert trainer.run() == "aborted"
    assert train_run(str(store.path), progress=False) == "completed"
    assert train_run(str(store.path), progress=False) == "completed"  # nothing left to do: still fine
    epochs = [m["epoch"] for m in train_metrics(store)]
    assert epochs == sorted(epochs) and epochs[0] > 0
