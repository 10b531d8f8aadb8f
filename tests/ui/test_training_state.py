"""The Training page state on real run directories: tailing by offset, KPIs, thinning, logs, samples, controls."""

import itertools
import math
import os
import time

import pytest
from ui_helpers import TINY_JOB, make_run, make_session, train_steps

from gemma_jax.config import JobConfig, apply_overrides
from gemma_jax.data.stats_text import describe_data
from gemma_jax.jobs import JobRunner
from gemma_jax.runs import run_store as run_store_module
from ui.state.kpis import KpiTracker, format_bytes, format_duration, kpi_cards, perplexity
from ui.state.run_logs import LogTail, is_error_line
from ui.state.run_words import pending_words
from ui.state.series import Series
from ui.state.training import TrainingState, available_actions


def test_series_streams_then_thins_to_stay_under_the_cap():
    series = Series(("step", "loss"), max_points=10)
    first = series.add([{"step": i, "loss": 1.0} for i in range(10)])
    assert first.kind == "stream" and len(first.data["step"]) == 10
    thinned = series.add([{"step": 10}])
    assert thinned.kind == "replace" and series.stride == 2
    assert thinned.data["step"] == [0, 2, 4, 6, 8, 10]
    assert math.isnan(thinned.data["loss"][-1])  # a missing value is NaN, not a hole in the columns
    assert series.add([{"step": 11}]) is None  # odd points are skipped at stride 2
    assert series.add([{"step": 12, "loss": 0.5}]).data == {"step": [12], "loss": [0.5]}
    for step in range(13, 10_000):
        series.add([{"step": step, "loss": 1.0}])
    assert len(series) <= 10 and series.data["step"][0] == 0
    steps = series.data["step"]
    assert all(b - a == series.stride for a, b in itertools.pairwise(steps))


def test_kpis_eta_and_formatting():
    tracker = KpiTracker()
    tracker.add({"step": 1, "loss": 3.0, "time": 100.0, "includes_compile": True})
    for step in range(2, 12):
        tracker.add(
            {"step": step, "loss": 2.0, "eval_loss": 1.0, "tokens_per_s": 900, "mfu": 0.25, "time": 100.0 + 2 * step}
        )
    assert tracker.steps_per_second() == 0.5
    status = {"state": "running", "step": 11, "total_steps": 31, "started": "2026-01-01T00:00:00+00:00"}
    kpis = tracker.summary(status, now=1767225600.0 + 90)
    assert kpis["eta_s"] == 40.0 and kpis["elapsed_s"] == 90.0
    assert kpis["perplexity"] == math.e and kpis["mfu"] == 0.25 and kpis["tokens_per_s"] == 900
    tracker.add({"step": 5, "loss": 2.0, "time": 500.0})  # a resumed run replays steps: pace restarts
    assert tracker.steps_per_second() is None
    assert perplexity(1000.0) == math.exp(50.0)
    assert format_duration(3725) == "1h 02m" and format_duration(65) == "1m 05s" and format_duration(None) == "-"
    assert format_bytes(1_500_000) == "1.5 MB" and format_bytes(None) == "-"


def test_log_tail_reads_only_new_lines_and_counts_errors(tmp_path):
    path = tmp_path / "log.txt"
    tail = LogTail(path, max_lines=3)
    assert not tail.poll()
    path.write_text("a INFO start\nb ERROR boom\nTraceback (most recent call last):\n  File x\npartial")
    assert tail.poll() and tail.errors == 2
    assert list(tail.lines) == ["b ERROR boom", "Traceback (most recent call last):", "  File x"]
    with open(path, "a") as f:
        f.write(" line\n")
    assert tail.poll() and tail.lines[-1] == "partial line" and tail.errors == 2
    assert not tail.poll()
    path.write_text("new\n")  # replaced by a shorter file: start over
    assert tail.poll() and list(tail.lines) == ["new"] and tail.errors == 0
    assert is_error_line("x CRITICAL y") and not is_error_line("errors=0")


def test_follows_a_run_by_offset(tmp_path):
    session = make_session(tmp_path)
    store = make_run(session, "r")
    store.update_status(state="running", pid=os.getpid(), started="2026-01-01T00:00:00+00:00")
    session.selected_run = "r"
    state = TrainingState(session, max_points=100)
    first = state.poll(now=2000.0)
    assert first["train"].kind == "replace" and first["train"].data["step"] == []
    train_steps(store, 1, 4, total=10, eval_every=2)
    update = state.poll(now=2001.0)
    assert update["train"].kind == "stream" and update["train"].data["step"] == [1, 2, 3, 4]
    assert update["eval"].data["step"] == [2, 4]
    assert state.kpis["step"] == 4 and state.kpis["total_steps"] == 10
    assert state.kpis["eval_loss"] == 2.5 - 4 / 10
    assert "train" not in state.poll(now=2002.0)  # nothing new: nothing re-read or re-sent
    store.append_metrics({"event": "resumed", "step": 2})
    train_steps(store, 3, 6, total=10)  # replayed steps 3-4 are not drawn twice
    assert state.poll(now=2003.0)["train"].data["step"] == [5, 6]
    assert state.actions == available_actions("running") and state.actions["pause"]


def test_the_running_clock_alone_refreshes_the_figures_only_every_few_seconds(tmp_path, monkeypatch):
    """Every KPI change repaints the page in the browser, which shares the CPU with the job."""
    session = make_session(tmp_path)
    store = make_run(session, "r")
    monkeypatch.setattr(run_store_module, "now_iso", lambda: "2026-01-01T00:00:00+00:00")
    store.update_status(state="running", pid=os.getpid())
    monkeypatch.undo()
    session.selected_run = "r"
    state = TrainingState(session)
    start = 1767225600.0 + 100
    state.poll(now=start)
    assert state.kpis["elapsed_s"] == 100.0
    seen = []
    state.param.watch(lambda event: seen.append(event.new["elapsed_s"]), "kpis")
    for tick in range(1, 10):
        state.poll(now=start + tick)
    assert seen == []  # nothing but the clock moved
    train_steps(store, 1, 1, total=10)
    state.poll(now=start + 9.5)
    assert seen == [109.5] and state.kpis["step"] == 1  # a new step shows at once, clock included
    state.poll(now=start + 15)
    state.poll(now=start + 19.5)
    assert seen == [109.5, 119.5]


def test_run_end_is_notified_once_and_samples_pair_base_with_tuned(tmp_path):
    session = make_session(tmp_path)
    store = make_run(session, "r")
    store.update_status(state="running", pid=os.getpid())
    store.append_sample({"step": 0, "model": "base", "prompt": "hi", "output": "base says hi"})
    store.append_sample({"step": 5, "model": "tuned", "prompt": "hi", "output": "tuned 5"})
    store.append_sample({"step": 10, "model": "tuned", "prompt": "hi", "output": "tuned 10"})
    store.log("something failed", level="ERROR")
    session.selected_run = "r"
    state = TrainingState(session)
    state.poll()
    row = state.samples.rows["hi"]
    assert (row.base, row.tuned, row.tuned_step) == ("base says hi", "tuned 10", 10)
    assert state.logs.errors == 1 and state.log_version == 1
    assert session.notifications == []  # opening a page is not a transition
    store.update_status(state="failed", error="out of memory")
    state.poll()
    state.poll()
    assert [n[1:] for n in session.notifications] == [("error", "r failed: out of memory")]
    assert state.actions == available_actions("failed") and state.actions["resume"]


def test_controls_go_through_the_job_runner(tmp_path):
    runner = JobRunner([], poll_s=60)
    session = make_session(tmp_path, runner)
    store = make_run(session, "r")
    store.update_status(state="running", pid=os.getpid())
    session.selected_run = "r"
    state = TrainingState(session)
    state.poll()
    assert state.pause()
    assert store.read_control()["action"] == "pause"
    assert state.set_learning_rate("2e-4")
    request = store.pending_controls()[-1]  # waits behind the pause; neither replaces the other
    assert (request["action"], request["value"]) == ("set_lr", 2e-4) and len(store.pending_controls()) == 2
    state.poll()
    assert state.pending == ["pause", "set_lr"]  # the page says what waits for the run to take it
    assert pending_words(state.pending) == "pausing after the current step…; new learning rate from the next step…"
    assert not state.set_learning_rate("fast")
    assert "not usable" in session.notifications[-1][2]
    assert not state.unpause()  # not offered while running
    assert "it is running" in session.notifications[-1][2]
    store.update_status(state="completed")
    state.poll()
    assert not state.resume()
    assert not any(state.actions.values())


def test_no_selected_run(tmp_path):
    session = make_session(tmp_path)
    state = TrainingState(session)
    state.poll()
    assert state.run_id is None and state.kpis == {}
    assert not state.pause() and "No run selected" in session.notifications[-1][2]


@pytest.mark.slow
def test_follows_a_real_tiny_job_to_its_end(tmp_path):
    runner = JobRunner([], poll_s=0.5)
    session = make_session(tmp_path, runner)
    cfg = apply_overrides(
        JobConfig(runs_dir=str(session.workspace.runs_dir)),
        list(TINY_JOB),
    )
    store = runner.submit(cfg, run_id="live")
    runner.start()
    try:
        session.selected_run = "live"
        state = TrainingState(session)
        steps = []
        deadline = time.monotonic() + 240
        while state.status.get("state") not in ("completed", "failed", "aborted"):
            assert time.monotonic() < deadline, store.read_log()[0]
            update = state.poll().get("train")
            if update is not None:
                steps.extend(update.data["step"])
            time.sleep(0.5)
    finally:
        runner.close()
    assert state.status["state"] == "completed", state.status.get("error")
    assert steps == [1, 2, 3, 4] and state.eval.data["step"] == [2, 4]
    assert state.kpis["step"] == 4 and state.kpis["perplexity"] > 1
    assert [n[1] for n in session.notifications] == ["success"]


def test_checkpoint_storage_is_measured_off_the_server_thread(tmp_path):
    session = make_session(tmp_path)
    store = make_run(session, "r")
    (store.checkpoints_dir / "1").mkdir()
    (store.checkpoints_dir / "1" / "weights").write_bytes(b"x" * 1234)
    session.selected_run = "r"
    state = TrainingState(session)
    state.poll()
    state._storage_thread.join(timeout=10)
    assert state.storage_bytes == 1234 and state.storage_error is None


def test_the_learning_rate_card_shows_the_current_rate_with_the_peak_beside_it():
    tracker = KpiTracker()
    for step, lr in ((1, 2e-5), (2, 4e-5), (3, 3.5e-5)):  # warmup, then decay
        tracker.add({"step": step, "loss": 2.0, "lr": lr, "time": 100.0 + step})
    kpis = tracker.summary({"state": "running", "step": 3, "learning_rate": 4e-5}, now=200.0)
    assert (kpis["learning_rate"], kpis["peak_learning_rate"]) == (3.5e-5, 4e-5)
    cards = {label: (value, note) for label, value, note in kpi_cards(kpis, None)}
    assert cards["Learning rate"] == ("3.50e-05", "peak 4.00e-05")
    tracker.add({"step": 4, "loss": 2.0, "lr": 4e-5, "time": 105.0})  # at the peak: no note
    cards = {
        label: (value, note) for label, value, note in kpi_cards(tracker.summary({"learning_rate": 4e-5}, 0), None)
    }
    assert cards["Learning rate"] == ("4.00e-05", "")


def test_device_memory_is_a_figure_only_on_an_accelerator():
    tracker = KpiTracker()
    tracker.add({"step": 1, "loss": 2.0, "time": 1.0})
    kpis = tracker.summary({}, now=2.0)
    assert kpis["accelerator"] is False and "Device memory" not in [c[0] for c in kpi_cards(kpis, None)]
    tracker.add({"step": 2, "loss": 2.0, "device_memory_gb": 1.25, "time": 2.0})
    kpis = tracker.summary({}, now=3.0)
    assert kpis["accelerator"] is True and ("Device memory", "1.25 GB", "") in kpi_cards(kpis, None)


def test_the_data_statistics_are_logged_as_a_sentence():
    stats = {  # as Datasets.stats has them (abridged: the rest is ignored)
        "examples": 1234, "train_examples": 1100, "validation_examples": 56, "test_examples": 78,
        "augmented_examples": 0, "tokens": 95700, "rows": 200, "packing_efficiency": 0.934,
        "truncated": 3, "steps_per_epoch": 25, "sequence_length": 512, "dropped_empty": 2,
        "cleaning": {"examples": 1236, "changed": {"unicode": 0}}, "split": {"total": 1234},
    }  # fmt: skip
    assert describe_data(stats) == (
        "1,234 examples: 1,100 training, 56 validation, 78 test; 95,700 tokens in 200 rows of 512 (93% filled), "
        "87 per example on average; 3 examples cut to fit 512 tokens; 2 examples dropped (empty after cleaning); "
        "25 steps per epoch"
    )
    pairs = {"examples": 10, "pairs": 10, "skipped_pairs": 1, "train_examples": 9, "tokens": 900, "rows": 9}
    assert describe_data(pairs).startswith("10 preference pairs: 9 training; 900 tokens in 9 rows")
    assert "1 preference pair skipped" in describe_data(pairs)
    assert describe_data({}) == "0 examples: 0 training; 0 tokens in 0 rows of 0"


def test_next_steps_are_offered_once_a_run_ends_with_a_checkpoint(tmp_path):
    session = make_session(tmp_path)
    store = make_run(session, "r")
    store.update_status(state="running", pid=os.getpid())
    session.selected_run = "r"
    state = TrainingState(session)
    state.poll()
    assert not state.actions["next"]
    store.update_status(state="aborted", last_checkpoint_step=7)  # "stop early" keeps a checkpoint
    state.poll()
    assert state.actions["next"] and state.actions["resume"]
    state.go_on("Evaluate")
    assert (session.page, session.selected_run) == ("Evaluate", "r")
    state.go_on("New run")  # not a next step
    assert session.page == "Evaluate"


def test_a_refused_learning_rate_quotes_a_short_form_of_what_was_typed(tmp_path):
    session = make_session(tmp_path)
    make_run(session, "r").update_status(state="running", pid=os.getpid())
    session.selected_run = "r"
    state = TrainingState(session)
    state.poll()
    assert not state.set_learning_rate("9" * 5000)
    message = session.notifications[-1][2]
    assert "not usable" in message and " ... " in message and len(message) < 200


def test_the_page_shows_a_requested_stop_as_a_notice_and_follows_the_learning_rate(tmp_path):
    from ui.views.training import TrainingPage

    session = make_session(tmp_path)
    store = make_run(session, "r")
    store.update_status(state="aborted", error="stopped at step 3 (stop requested); checkpoint saved.")
    page = TrainingPage(session)
    session.open_run("r")
    page.tick()
    assert page.error.visible and page.error.alert_type == "warning"  # asked for, checkpoint kept: no red
    store.update_status(state="failed", error="out of memory")
    page.tick()
    assert page.error.alert_type == "danger"
    page.state.kpis = {**page.state.kpis, "peak_learning_rate": 2e-4}
    page._show_learning_rate()
    assert page.lr_input.placeholder == "now 2.00e-04"
