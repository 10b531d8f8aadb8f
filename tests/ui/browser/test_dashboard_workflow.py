"""A new user's whole path through the dashboard in Chromium, against a real server and real jobs.

Upload a CSV with a bad row and see it flagged; configure a tiny model; start training; watch the
loss plot gain points; pause and resume; restart the server mid-run and reload the page: the address
bar brings back the run on Training, still going; stop it and follow a next step to chat with the
fine-tuned and the base model in the playground; double-click the run in Runs to open it again; the
dark theme is remembered. Screenshots of every page are kept
in test-artifacts/browser/.
"""

from __future__ import annotations

import json
import time

import pytest

from gemma_jax.runs import RunStore
from ui.server_process import DashboardProcess

POINTS = (
    "() => { const d = window.Bokeh && Bokeh.documents; if (!d || !d.length) return -1;"
    " for (const doc of d) { const s = doc.get_model_by_name('gj-train-source'); if (s) return s.data.step.length }"
    " return -1 }"
)
BAD_CSV = "prompt,response\nWhat is 2+2?,4\nName a colour.,Blue\n,an answer with no prompt\nCapital of France?,Paris\n"
TIMEOUT = 120_000
# Animation frames the page asks for in one second (a page at rest asks for none).
FRAMES_PER_S = (
    "() => new Promise(done => { let n = 0; const request = window.requestAnimationFrame;"
    " window.requestAnimationFrame = cb => { n++; return request.call(window, cb) };"
    " setTimeout(() => { window.requestAnimationFrame = request; done(n) }, 1000) })"
)


def points(page) -> int:
    return page.evaluate(POINTS)


def wait_points(page, at_least: int, timeout: int = TIMEOUT) -> None:
    page.wait_for_function(f"({POINTS})() >= {at_least}", timeout=timeout, polling=250)


def wait_for(condition, what: str, timeout_s: float = TIMEOUT / 1000) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def go(page, name: str) -> None:
    page.locator(".gj-nav").get_by_text(name, exact=True).first.click()


def state_is(page, state: str, timeout: int = TIMEOUT) -> None:
    page.locator(f".gj-training-state .gj-state-{state}").first.wait_for(timeout=timeout)


@pytest.mark.slow
def test_new_user_trains_watches_pauses_survives_a_restart_and_chats(browser, artifacts, tmp_path):
    csv_path = tmp_path / "my data.csv"
    csv_path.write_text(BAD_CSV)
    server = DashboardProcess(tmp_path / "workspace").start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        page.locator(".gj-runs-table, .gj-runs-empty").first.wait_for(timeout=TIMEOUT)
        page.screenshot(path=artifacts / "01-runs-empty.png", full_page=True)

        # 1. Data: the upload is checked and its bad row flagged.
        go(page, "New run")
        page.locator(".gj-newrun-upload input[type=file]").set_input_files(str(csv_path))
        flagged = page.locator(".gj-newrun-bad-row").first
        flagged.wait_for(timeout=TIMEOUT)
        assert "4" in flagged.inner_text() or flagged.get_attribute("data-line") == "4"
        page.screenshot(path=artifacts / "02-new-run-data-bad-row.png", full_page=True)
        # ... then the user goes on with the packaged example data.
        source = page.locator(".gj-newrun-source input")
        source.fill("example")
        page.locator(".gj-newrun-use-source button").click()
        page.locator(".gj-newrun-bad-row").first.wait_for(state="detached", timeout=TIMEOUT)
        page.locator(".gj-newrun-rows").first.wait_for(timeout=TIMEOUT)

        # 2. Model: a tiny one.
        page.locator(".gj-newrun-next button").click()
        page.locator(".gj-newrun-model-source input").fill("tiny:gemma3")
        page.locator(".gj-newrun-model-source input").press("Enter")
        page.locator(".gj-newrun-architecture").first.wait_for(timeout=TIMEOUT)
        page.screenshot(path=artifacts / "03-new-run-model.png", full_page=True)

        # 3. Method: enough steps to watch, checkpoints the playground can load.
        page.locator(".gj-newrun-next button").click()
        steps = page.locator(".gj-newrun-field-train-max-steps input").first
        steps.fill("3000")
        steps.press("Enter")
        page.screenshot(path=artifacts / "04-new-run-method.png", full_page=True)

        # 4. Review and start.
        page.locator(".gj-newrun-next button").click()
        start = page.locator(".gj-newrun-start button")
        start.wait_for(timeout=TIMEOUT)
        page.screenshot(path=artifacts / "05-new-run-review.png", full_page=True)
        start.click()

        # Training: the loss plot gains points.
        page.locator(".gj-training-kpis").first.wait_for(timeout=TIMEOUT)
        wait_points(page, 3)
        runs = list((tmp_path / "workspace" / "runs").iterdir())
        assert len(runs) == 1, runs
        store = RunStore.open(runs[0])
        assert store.config().model.source == "tiny:gemma3"
        page.screenshot(path=artifacts / "06-training.png", full_page=True)
        # The upload widget's 60 fps animation loop (FilePond) is parked once no drop zone is shown.
        assert page.evaluate(FRAMES_PER_S) < 10

        # Pause: the state says so and the plot stops growing; resume: it grows again.
        page.locator(".gj-training-pause button").click()
        state_is(page, "paused")
        held = points(page)
        page.wait_for_timeout(2500)
        assert points(page) <= held + 1  # a step in flight when pause arrived may still land
        page.screenshot(path=artifacts / "07-training-paused.png", full_page=True)
        page.locator(".gj-training-unpause button").click()
        state_is(page, "running")
        wait_points(page, points(page) + 3)

        # The address bar says where the user is; the server restarts mid-run and a reload lands on the
        # same run on Training: the job kept running and the page picks it up again.
        page.wait_for_url(f"**run={store.run_id}&page=Training*", timeout=TIMEOUT)
        pid = store.read_status()["pid"]
        step_before = store.read_status()["step"]
        server.restart()
        page.reload()
        state_is(page, "running")
        assert store.run_id in page.locator(".gj-training-title h2").first.inner_text()
        assert f"run={store.run_id}&page=Training" in page.url
        wait_points(page, step_before + 3)
        assert store.read_status()["pid"] == pid
        page.screenshot(path=artifacts / "08-training-after-restart.png", full_page=True)

        # Stop early (saves a checkpoint, then exits): the next steps are offered; chat with the fine-tuned
        # and the base model.
        page.locator(".gj-training-stop button").click()
        wait_for(lambda: store.read_status()["state"] in ("completed", "aborted"), "the run to stop")
        assert any(p.name.isdigit() for p in store.checkpoints_dir.iterdir())
        for name in ("playground", "evaluate", "export"):
            page.locator(f".gj-training-next-{name} button").wait_for(timeout=TIMEOUT)
        page.screenshot(path=artifacts / "09-training-stopped.png", full_page=True)
        page.locator(".gj-training-next-playground button").click()
        page.wait_for_url("**page=Playground*", timeout=TIMEOUT)
        page.locator(".gj-playground-prompt textarea").first.wait_for(timeout=TIMEOUT)
        page.locator(".gj-playground-prompt textarea").fill("What is the capital of Norway?")
        page.locator(".gj-playground-prompt textarea").press("Tab")
        page.locator(".gj-playground-generate button").click()
        outputs = {name: page.locator(f".gj-playground-{name}-output .gj-turn-text") for name in ("tuned", "base")}
        seen = {name: {0} for name in outputs}  # the lengths the answers had while they streamed in
        deadline = time.monotonic() + TIMEOUT / 1000
        while time.monotonic() < deadline:
            for name, turns in outputs.items():
                texts = turns.all_inner_texts()  # the prompt, then the model's answer as far as it has come
                seen[name].add(len(texts[1]) if len(texts) > 1 else 0)
            if page.locator(".gj-playground-generate button").is_enabled() and all(max(v) > 0 for v in seen.values()):
                break
            page.wait_for_timeout(100)
        page.screenshot(path=artifacts / "10-playground.png", full_page=True)
        problem = page.locator(".gj-playground-error").all_inner_texts()
        assert all(max(lengths) > 0 for lengths in seen.values()), (seen, problem, server.log_tail())
        print({name: sorted(lengths) for name, lengths in seen.items()})

        for name in ("Evaluate", "Export"):
            go(page, name)
            page.locator(f".gj-{name.lower()}-run").first.wait_for(timeout=TIMEOUT)
            page.screenshot(path=artifacts / f"11-{name.lower()}.png", full_page=True)
        go(page, "Runs")
        page.locator(".gj-runs-table").first.wait_for(timeout=TIMEOUT)
        page.screenshot(path=artifacts / "12-runs.png", full_page=True)
        # A double-click on the run's row opens it on Training.
        page.locator(".gj-runs-table .tabulator-row .tabulator-cell >> visible=true").first.dblclick()
        page.wait_for_url(f"**run={store.run_id}&page=Training*", timeout=TIMEOUT)
        page.locator(".gj-training-kpis").first.wait_for(timeout=TIMEOUT)

        # A phone-sized screen in the dark theme: the page menu replaces the sidebar. The theme is
        # remembered: the bare address opens the latest run on Training, still dark.
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(f"{server.url}?theme=dark")
        phone.locator(".gj-nav-compact").first.wait_for(timeout=TIMEOUT)
        phone.goto(server.url)
        phone.locator(".gj-training-kpis").first.wait_for(timeout=TIMEOUT)
        assert store.run_id in phone.locator(".gj-training-title h2").first.inner_text()
        assert phone.locator("#theme-switch").get_attribute("checked") is None  # the switch is on for light
        phone.wait_for_url("**theme=dark*", timeout=TIMEOUT)
        phone.screenshot(path=artifacts / "13-training-phone-dark.png", full_page=True)
        phone.close()
    finally:
        server.stop()
        for run in (tmp_path / "workspace" / "runs").glob("*"):
            status = json.loads((run / "status.json").read_text())
            if status.get("state") in ("running", "paused", "queued"):
                RunStore.open(run).request("abort")
