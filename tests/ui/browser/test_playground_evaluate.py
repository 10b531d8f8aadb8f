"""The Playground and Evaluate pages in Chromium on a tiny trained run (issue 13, a newcomer's first hour).

At 1400x1000 (and 1024 wide) every Playground control is on screen; answers read as normal text, not a
greyed-out disabled box; a second prompt continues the conversation on both sides; the refresh button
says what it does. Evaluate shows the job's progress before its report (eval/step-N-SPLIT/report.json),
and the per-example table keeps its loss columns on the page (test_evaluate_page.py covers the rest of it). Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path

import pytest
from page_helpers import go, within_viewport

sys.path.insert(0, str(Path(__file__).parents[2] / "serve"))

from tiny_runs import tiny_run

from ui.server_process import DashboardProcess
from ui.views.checkpoint_picker import REFRESH_LABEL, REFRESH_TOOLTIP

TIMEOUT = 90_000
PROGRESS = re.compile(r"^(Loading|Restoring|Preparing|Loss|Answers|Reference scores|Scoring|Writing)")


def turns(page, side: str) -> list[str]:
    return page.locator(f".gj-playground-{side}-output .gj-turn-text").all_inner_texts()


def ask(page, prompt: str, expected_turns: int) -> None:
    box = page.locator(".gj-playground-prompt textarea")
    box.fill(prompt)
    box.press("Tab")  # commit the text to the server
    page.locator(".gj-playground-generate button").click(timeout=TIMEOUT)  # enabled once the last answer is in
    deadline = time.monotonic() + TIMEOUT / 1000
    while time.monotonic() < deadline:
        done = page.locator(".gj-playground-generate button").is_enabled()
        if done and all(len(turns(page, side)) == expected_turns for side in ("tuned", "base")):
            return
        page.wait_for_timeout(100)
    problem = page.locator(".gj-playground-error").all_inner_texts()
    raise AssertionError(f"no answers after {prompt!r}: {turns(page, 'tuned')} {problem}")


@pytest.mark.slow
def test_playground_chat_and_evaluate_progress(browser, artifacts, tmp_path, tmp_path_factory):
    root = tmp_path / "workspace"
    server = DashboardProcess(root)
    starting = threading.Thread(target=server.start)
    starting.start()  # the server starts while the tiny run trains (training needs the main thread)
    try:
        tiny_run(tmp_path_factory, runs_dir=root / "runs")
        starting.join()
        assert server.process is not None and server.process.poll() is None, server.log_tail()
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server.url}?run=tiny")

        # Evaluate first (it runs in its own process while we chat): progress text before the report.
        go(page, "Evaluate")
        examples = page.locator(".gj-evaluate-max-examples input")
        examples.fill("3")
        examples.press("Enter")
        page.locator(".gj-evaluate-run button").click()
        progress = page.locator(".gj-evaluate-progress div")
        deadline = time.monotonic() + TIMEOUT / 1000
        seen = ""
        while not PROGRESS.match(seen):
            assert time.monotonic() < deadline, f"no progress shown, last: {seen!r}"
            seen = progress.first.inner_text().strip()
            page.wait_for_timeout(100)
        assert not page.locator(".gj-evaluate-examples .tabulator-row").count()  # no report yet
        page.screenshot(path=artifacts / "20-evaluate-progress.png", full_page=True)

        # Playground: every control on screen at 1400x1000 and at 1024 wide; a labelled refresh button.
        go(page, "Playground")
        page.locator(".gj-playground-prompt textarea").first.wait_for(timeout=TIMEOUT)
        for selector in (".gj-playground-max-tokens input", ".gj-playground-seed input", ".gj-playground-top-p"):
            within_viewport(page, selector)
        refresh = page.locator(".gj-playground-refresh button")
        assert refresh.inner_text() == REFRESH_LABEL
        refresh.hover()
        page.get_by_text(REFRESH_TOOLTIP).first.wait_for(timeout=5000)  # its tooltip says what it does
        page.set_viewport_size({"width": 1024, "height": 1000})
        page.wait_for_timeout(300)
        for selector in (".gj-playground-max-tokens input", ".gj-playground-seed input"):
            within_viewport(page, selector)
        page.set_viewport_size({"width": 1400, "height": 1000})

        # A two-turn chat: the first exchange stays, and the second is answered after it on both sides.
        tokens = page.locator(".gj-playground-max-tokens input")
        tokens.fill("24")
        tokens.press("Enter")
        first, second = "What is the capital of France?", "And of Norway?"
        ask(page, first, 2)
        ask(page, second, 4)
        for side in ("tuned", "base"):
            shown = turns(page, side)
            assert shown[0] == first and shown[2] == second, shown
        texts = page.locator(".gj-playground-tuned-output .gj-turn-text").first
        assert texts.evaluate("e => getComputedStyle(e).opacity") == "1"
        assert page.locator(".gj-playground-tuned-output textarea, .gj-playground-tuned-output [disabled]").count() == 0
        page.screenshot(path=artifacts / "21-playground-chat.png", full_page=True)
        page.locator(".gj-playground-new-chat button").click()
        page.locator(".gj-playground-tuned-output .gj-chat-empty").first.wait_for(timeout=TIMEOUT)

        # Back on Evaluate: the report, its loss columns inside the page.
        go(page, "Evaluate")
        page.locator(".gj-evaluate-examples .tabulator-row").first.wait_for(timeout=TIMEOUT)
        page.locator(".gj-evaluate-examples").first.scroll_into_view_if_needed()  # below the metric cards
        within_viewport(page, ".gj-evaluate-examples .tabulator-col[tabulator-field='loss']")
        within_viewport(page, ".gj-evaluate-examples .tabulator-col[tabulator-field='base loss']")
        table = page.locator(".gj-evaluate-examples").first.bounding_box()
        assert table["x"] + table["width"] <= 1400
        page.screenshot(path=artifacts / "22-evaluate-report.png", full_page=True)
    finally:
        server.stop()
