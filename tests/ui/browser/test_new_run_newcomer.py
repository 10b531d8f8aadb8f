"""A newcomer's first hour in the New run wizard, in Chromium against a real server and a real job.

Upload one file, then a second with other column names: each gets its own column mapping, matched
automatically (the second would otherwise inherit the first's and fail on every row); a click on
the words of "Skip invalid rows" ticks it; an absurd learning rate is refused beside the field and
keeps Start disabled; the run then starts from the second file. Screenshots go to
test-artifacts/browser/newcomer-*.png.
"""

from __future__ import annotations

import json
import time

import pytest

from gemma_jax.runs import RunStore
from ui.server_process import DashboardProcess

pytestmark = pytest.mark.slow

TIMEOUT = 60_000
FIRST_CSV = "question,answer\nWhat is 2+2?,4\nName a colour.,Blue\nCapital of France?,\nCapital of Peru?,Lima\n"
SECOND_JSONL = "".join(
    json.dumps({"instruction": f"Repeat the word number {i}.", "input": "" if i % 2 else f"word{i}", "output": f"w{i}"})
    + "\n"
    for i in range(24)
)


def wait_for(condition, what: str, timeout_s: float = TIMEOUT / 1000) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def next_step(page) -> None:
    page.locator(".gj-newrun-next button").click()


def typed(page, field: str, value: str) -> None:
    box = page.locator(f".gj-newrun-field-{field} input").first
    box.fill(value)
    box.press("Enter")


def test_two_uploads_an_absurd_learning_rate_and_a_start_from_the_second_file(browser, artifacts, tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.jsonl"
    first.write_text(FIRST_CSV)
    second.write_text(SECOND_JSONL)
    workspace = tmp_path / "workspace"
    server = DashboardProcess(workspace).start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        page.locator(".gj-nav").get_by_text("New run", exact=True).first.click()
        page.locator(".gj-newrun-rows").first.wait_for(timeout=TIMEOUT)  # the example's report
        upload = page.locator(".gj-newrun-upload input[type=file]")

        # 1. The first file: question/answer matched to Prompt/Response; its bad row flagged.
        upload.set_input_files(str(first))
        page.get_by_text("question → Prompt, answer → Response").first.wait_for(timeout=TIMEOUT)
        page.locator(".gj-newrun-bad-row").first.wait_for(timeout=TIMEOUT)
        # A click on the checkbox's words ticks it (and again unticks it): the bad row is then skipped.
        skip = page.locator(".gj-newrun-skip").get_by_text("Skip invalid rows")
        skip.click()
        page.get_by_text("1 invalid row(s) skipped").first.wait_for(timeout=TIMEOUT)
        assert page.locator(".gj-newrun-skip input").is_checked()
        page.locator(".gj-newrun-rows").first.scroll_into_view_if_needed()  # the skipped row, marked
        page.screenshot(path=artifacts / "newcomer-01-first-file-skipping.png")
        skip.click()
        page.get_by_text("1 error(s) to fix").first.wait_for(timeout=TIMEOUT)
        assert not page.locator(".gj-newrun-skip input").is_checked()

        # 2. The second file, other columns: a fresh mapping (Alpaca), only the roles it needs, no errors.
        upload.set_input_files(str(second))
        page.get_by_text("instruction → Prompt, output → Response, input → System or context").first.wait_for(
            timeout=TIMEOUT
        )
        page.get_by_text("ready to train").first.wait_for(timeout=TIMEOUT)
        assert page.locator(".gj-newrun-bad-row").count() == 0
        assert page.locator(".gj-newrun-column-prompt select").input_value() == "instruction"
        assert not page.locator(".gj-newrun-column-messages").is_visible()
        page.screenshot(path=artifacts / "newcomer-02-second-file.png")

        # 3. Model: a tiny one, so the run is quick.
        next_step(page)
        page.locator(".gj-newrun-model-source input").fill("tiny:gemma3")
        page.locator(".gj-newrun-model-source input").press("Enter")
        page.get_by_text("Suggested batch size").first.wait_for(timeout=TIMEOUT)
        page.locator(".gj-newrun-architecture").first.wait_for(timeout=TIMEOUT)
        page.screenshot(path=artifacts / "newcomer-03-model.png")

        # 4. Method: a learning rate of 50 is refused beside the field, and Start stays disabled.
        next_step(page)
        typed(page, "optimizer-learning-rate", "1e-7")  # shown as typed (a fixed-decimals box showed 0)
        page.locator(".gj-newrun-note-optimizer-learning-rate .gj-field-warning").wait_for(timeout=TIMEOUT)
        assert page.locator(".gj-newrun-field-optimizer-learning-rate input").first.input_value() == "1e-7"
        typed(page, "optimizer-learning-rate", "50")
        error = page.locator(".gj-newrun-note-optimizer-learning-rate .gj-field-error")
        error.wait_for(timeout=TIMEOUT)
        assert "50 is far too high" in error.inner_text()
        field = page.locator(".gj-newrun-field-optimizer-learning-rate input").first.bounding_box()
        note = error.bounding_box()
        assert abs(note["x"] - field["x"]) < 40 and 0 <= note["y"] - (field["y"] + field["height"]) < 60, (field, note)
        typed(page, "train-max-steps", "3")
        page.get_by_text("epochs: 3 steps, and").first.wait_for(timeout=TIMEOUT)  # the note follows the typed value
        page.screenshot(path=artifacts / "newcomer-04-method-learning-rate-50.png")
        next_step(page)
        start = page.locator(".gj-newrun-start button")
        page.get_by_text("Learning rate: 50 is far too high").first.wait_for(timeout=TIMEOUT)
        assert start.is_disabled()
        page.screenshot(path=artifacts / "newcomer-05-review-blocked.png")

        # 5. A sensible rate, and the run starts from the second file.
        page.locator(".gj-newrun-back button").click()
        typed(page, "optimizer-learning-rate", "0.001")
        error.wait_for(state="detached", timeout=TIMEOUT)
        next_step(page)
        page.get_by_text("No problems: ready to start.").first.wait_for(timeout=TIMEOUT)
        assert start.is_enabled()
        start.click()
        page.locator(".gj-training-kpis").first.wait_for(timeout=TIMEOUT)
        runs = workspace / "runs"
        wait_for(lambda: runs.exists() and any(runs.iterdir()), "the run folder")
        (run,) = list(runs.iterdir())
        store = RunStore.open(run)
        data = store.config().data
        assert data.train_path.endswith("second.jsonl") and (data.prompt_column, data.system_column) == (
            "instruction",
            "input",
        )
        assert store.config().name == "second" and store.config().optimizer.learning_rate == 0.001
        wait_for(lambda: store.read_status().get("state") in ("running", "completed"), "the run to start")
        wait_for(
            lambda: store.read_status().get("step", 0) >= 1 or store.read_status().get("state") == "failed",
            "a first step",
            timeout_s=60,
        )
        assert store.read_status().get("state") != "failed", store.read_status().get("error")
        page.screenshot(path=artifacts / "newcomer-06-training.png")
        # No widget's callback failed on the server (each learning-rate edit redraws the curve).
        assert "Callback failed" not in server.log_path.read_text(errors="replace"), server.log_tail()
    finally:
        server.stop()
        for run in (workspace / "runs").glob("*"):
            status = json.loads((run / "status.json").read_text())
            if status.get("state") in ("running", "paused", "queued"):
                RunStore.open(run).request("abort")
