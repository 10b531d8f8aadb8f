"""Steering a running job: set_lr between steps, early stopping, the end-of-run webhook, base samples."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from engine_helpers import fast_config
from training_helpers import train_metrics

from gemma_jax.cli import main as cli_main
from gemma_jax.runs.files import atomic_write_json
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.step_metrics import device_memory
from gemma_jax.train.trainer import Trainer, train_run
from gemma_jax.train.webhook import notify_run_end


def _trainer(store, before_poll):
    """A Trainer that calls `before_poll(trainer)` before each control poll (i.e. between steps)."""
    trainer = Trainer(store, progress=False)
    prepare = trainer.prepare

    def prepare_then_hook():
        prepare()
        poll = trainer.control.poll

        def hooked():
            action = before_poll(trainer)
            return action or poll()

        trainer.control.poll = hooked

    trainer.prepare = prepare_then_hook
    return trainer


@pytest.fixture
def webhook():
    """A real local HTTP server; yields (url, list of received JSON bodies)."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_set_lr_requests_check_their_value(tmp_path, capsys):
    store = RunStore.create(fast_config(tmp_path))
    request = store.request("set_lr", value=1e-4)
    assert request["action"] == "set_lr" and request["value"] == 1e-4 and store.read_control() == request
    for bad in (None, 0, -1e-3, float("nan"), float("inf"), "1e-4", True):
        with pytest.raises(ValueError, match="set_lr"):
            store.request("set_lr", value=bad)
    with pytest.raises(ValueError, match="takes no value"):
        store.request("pause", value=1.0)

    assert cli_main(["control", str(store.path), "set-lr", "3e-5"]) == 0
    assert [(r["action"], r.get("value")) for r in store.pending_controls()] == [("set_lr", 1e-4), ("set_lr", 3e-5)]
    assert cli_main(["control", str(store.path), "set-lr"]) == 2
    assert "set-lr needs the new peak learning rate" in capsys.readouterr().err
    assert cli_main(["control", str(store.path), "set-lr", "-1"]) == 2


@pytest.mark.slow
def test_set_lr_and_lora_dropout_survive_a_resume_exactly(tmp_path):
    overrides = (
        "train.max_steps=6",
        "method.lora_dropout=0.2",
        "optimizer.learning_rate=1e-2",
        "schedule.name=constant",
        "checkpoint.every_steps=100",
    )

    def set_lr_at_2(trainer):
        if trainer.step == 2:
            trainer.store.request("set_lr", value=2e-3)

    reference = RunStore.create(fast_config(tmp_path / "a", *overrides))
    assert _trainer(reference, set_lr_at_2).run() == "completed"

    store = RunStore.create(fast_config(tmp_path / "b", *overrides))
    assert _trainer(store, lambda t: set_lr_at_2(t) or ("abort" if t.step == 4 else None)).run() == "aborted"
    assert train_run(str(store.path), progress=False) == "completed"

    expected, resumed = train_metrics(reference), train_metrics(store)
    assert [m["step"] for m in resumed] == [m["step"] for m in expected] == list(range(1, 7))
    assert [m["lr"] for m in resumed] == pytest.approx([1e-2, 1e-2, 2e-3, 2e-3, 2e-3, 2e-3])
    for old, new in zip(expected, resumed):
        assert new["loss"] == pytest.approx(old["loss"], abs=1e-5), new["step"]  # same dropout masks too
    assert store.read_status()["learning_rate"] == pytest.approx(2e-3)


def test_a_run_steered_live_stops_early_with_base_samples_and_a_webhook(tmp_path, webhook):
    """One run (runs are the expensive part): set_lr between steps, early stopping, samples, webhook."""
    url, received = webhook
    cfg = fast_config(
        tmp_path,
        "train.max_steps=20",
        "schedule.name=linear",
        "optimizer.learning_rate=1e-3",
        "method.lora_dropout=0.1",
        "eval.every_steps=1",
        "eval.max_batches=1",
        "eval.early_stop_patience=2",
        "eval.early_stop_min_delta=100",  # no eval can improve that much: stop after the third eval
        "eval.sample_every_steps=2",
        "eval.max_new_tokens=4",
        "eval.sample_prompts=[Hello there]",
        f"train.webhook_url={url}",
    )
    store = RunStore.create(cfg)
    seen = {}

    def between_steps(trainer):
        if trainer.step == 1:  # a bad value written by hand: reported, and the run goes on
            atomic_write_json(store.control_path, {"action": "set_lr", "id": "bad", "value": -2})
        if trainer.step == 2:
            seen["error_after_bad_value"] = store.read_status().get("control_error")
            store.request("set_lr", value=3e-3)

    trainer = _trainer(store, between_steps)
    assert trainer.run() == "completed"
    status, log, metrics = store.read_status(), store.read_log()[0], train_metrics(store)

    # set_lr: the schedule keeps its shape, its peak is 3e-3 from step 3 on, and nothing recompiled.
    schedule = trainer.setup.schedule
    expected = [float(schedule(0)), float(schedule(1)), 3 * float(schedule(2))]
    assert [m["lr"] for m in metrics] == pytest.approx(expected, rel=1e-6)
    assert trainer.setup.steps.train._cache_size() == 1
    assert "positive, finite" in seen["error_after_bad_value"]
    assert status["learning_rate"] == pytest.approx(3e-3) and status["control_error"] is None
    assert "set_lr ignored" in log and "learning rate set to 0.003 (peak; was 0.001) from step 3" in log
    if not device_memory():  # CPU reports no device memory: the keys are left out, not zero
        assert not any("device_memory_gb" in m for m in metrics)

    # Early stopping after three evaluations without a large enough improvement.
    assert status["step"] == 3 and status["stopped_early"] is True and status["last_checkpoint_step"] == 3
    assert "stopped early at step 3" in log
    assert len([m for m in metrics if "eval_loss" in m]) == 3

    # The base model answers before step 1; later samples are the tuned model's.
    samples = store.read_samples()[0]
    assert [(s["step"], s["model"]) for s in samples] == [(0, "base"), (2, "tuned"), (3, "tuned")]
    assert all(s["prompt"] == "Hello there" for s in samples)

    assert received == [
        {
            "run_id": store.run_id,
            "state": "completed",
            "step": 3,
            "error": None,
            "best_eval_loss": status["best_eval_loss"],
            "run_dir": str(store.path.resolve()),
        }
    ]
    assert "webhook" in store.read_log()[0]

    # Resuming a run that stopped early has nothing left to do, and does not answer for the base again.
    assert train_run(str(store.path), progress=False) == "completed"
    assert store.read_status()["step"] == 3 and len(store.read_samples()[0]) == 3


def test_failed_runs_are_posted_and_an_unreachable_webhook_is_only_logged(tmp_path, webhook):
    url, received = webhook
    store = RunStore.create(fast_config(tmp_path, "method.lora_rank=0", f"train.webhook_url={url}"))
    assert train_run(str(store.path), progress=False) == "failed"
    assert received[0]["state"] == "failed" and "lora_rank" in received[0]["error"]

    closed = f"http://127.0.0.1:{_closed_port()}/hook"
    assert notify_run_end(closed, store) is False
    assert f"WARNING webhook {closed} failed" in store.read_log()[0]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_paused_run_shows_its_last_step(tmp_path):
    """Steps are reported while the next one runs; a pause first reports the step just done."""
    overrides = ("train.max_steps=5", "train.log_every_steps=1", "eval.every_steps=0", "checkpoint.every_steps=100")
    store = RunStore.create(fast_config(tmp_path, *overrides, "eval.sample_every_steps=0"))
    seen = {}

    def resume_when_paused():
        deadline = time.monotonic() + 120
        while store.read_status().get("state") != "paused" and time.monotonic() < deadline:
            time.sleep(0.05)
        seen["status_step"] = store.read_status().get("step")
        seen["metric_steps"] = [m["step"] for m in train_metrics(store)]
        store.request("resume")

    watcher = threading.Thread(target=resume_when_paused)

    def pause_at_3(trainer):
        if trainer.step == 3 and not watcher.is_alive() and not seen:
            store.request("pause")
            watcher.start()

    assert _trainer(store, pause_at_3).run() == "completed"
    watcher.join(timeout=5)
    assert seen == {"status_step": 3, "metric_steps": [1, 2, 3]}
    assert [m["step"] for m in train_metrics(store)] == [1, 2, 3, 4, 5]
