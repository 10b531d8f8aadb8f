"""The Evaluate page in Chromium (issue 14): a crafted classification report's confusion matrix, whose
clicked cell narrows the per-example table to its examples; then a real evaluation of a tiny trained
run through the page: its metric cards, the table with its loss columns on screen at 1400 wide, the
token probabilities of a clicked example with the alternatives in each token's tooltip, the attention
heatmap the evaluation saved (another head picked), and the report's files downloaded by their links.
Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
from page_helpers import go, within_viewport

sys.path.insert(0, str(Path(__file__).parents[2] / "serve"))
sys.path.insert(0, str(Path(__file__).parents[1]))

from test_evaluate_state import classification_report, write_report
from tiny_runs import tiny_run

from ui.server_process import DashboardProcess
from ui.state.evaluate import report_label
from ui.views.evaluate_attention import ATTENTION_NAME
from ui.views.evaluate_plots import CONFUSION_NAME

TIMEOUT = 90_000
EVALUATION_S = 300
# The screen position of a confusion-matrix cell: Bokeh's view of the figure maps its factors to pixels.
CELL_POSITION = """([name, reference, predicted]) => {
  const view = Bokeh.index.query_one((v) => v.model.name === name && v.frame != null);
  const box = view.canvas_view.el.getBoundingClientRect();
  const x = view.frame.x_scale.compute(view.model.x_range.synthetic(predicted));
  const y = view.frame.y_scale.compute(view.model.y_range.synthetic(reference));
  return [box.left + x, box.top + y];
}"""
# The attention figure's title and how many cells it draws, read from Bokeh's own view of it.
HEATMAP = """(name) => {
  const view = Bokeh.index.query_one((v) => v.model.name === name && v.frame != null);
  if (view == null) return null;
  const cells = view.model.renderers.map((r) => r.data_source.get_length() ?? 0);
  return [view.model.title.text, Math.max(...cells)];
}"""


def rows(page) -> list[str]:
    return page.locator(".gj-evaluate-examples .tabulator-row").all_inner_texts()


def wait_rows(page, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT / 1000
    while len(rows(page)) != count:
        assert time.monotonic() < deadline, f"the table shows {len(rows(page))} rows, not {count}"
        page.wait_for_timeout(100)


@pytest.mark.slow
def test_confusion_matrix_cards_and_token_view(browser, artifacts, tmp_path, tmp_path_factory):
    root = tmp_path / "workspace"
    server = DashboardProcess(root)
    starting = threading.Thread(target=server.start)
    starting.start()  # the server starts while the tiny run trains (training needs the main thread)
    try:
        run_dir = tiny_run(tmp_path_factory, runs_dir=root / "runs")
        crafted, crafted_rows = classification_report(step=2)
        write_report(run_dir, crafted, crafted_rows)
        starting.join()
        assert server.process is not None and server.process.poll() is None, server.log_tail()
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server.url}?run=tiny")
        go(page, "Evaluate")

        # The crafted classification report (the run's only one): open its matrix, click a cell.
        page.locator(".gj-evaluate-matrix-card").first.wait_for(timeout=TIMEOUT)
        wait_rows(page, len(crafted_rows))
        page.locator(".gj-evaluate-matrix-card .card-header").first.click()
        page.locator(".gj-evaluate-confusion canvas").first.wait_for(timeout=TIMEOUT)
        page.wait_for_timeout(500)  # the figure lays out
        page.locator(".gj-evaluate-confusion canvas").first.scroll_into_view_if_needed()
        x, y = page.evaluate(CELL_POSITION, [CONFUSION_NAME, "positive", "negative"])
        page.mouse.click(x, y)
        wait_rows(page, 2)  # examples 1 and 4: positive, answered negative
        assert all("positive" in row and "negative" in row for row in rows(page)), rows(page)
        page.locator(".gj-evaluate-cell-note").get_by_text("whose reference is").first.wait_for(timeout=TIMEOUT)
        page.screenshot(path=artifacts / "30-evaluate-confusion.png", full_page=True)
        page.locator(".gj-evaluate-examples").first.screenshot(path=artifacts / "30-evaluate-confusion-table.png")
        page.locator(".gj-evaluate-clear-cell button").click()
        wait_rows(page, len(crafted_rows))

        # A real evaluation of three examples through the page.
        examples = page.locator(".gj-evaluate-max-examples input")
        examples.fill("3")
        examples.press("Enter")
        page.locator(".gj-evaluate-run button").click()
        page.locator(".gj-evaluate-progress-bar").first.wait_for(timeout=TIMEOUT)
        deadline = time.monotonic() + EVALUATION_S
        reports = page.locator(".gj-evaluate-reports select option")
        while reports.count() < 2:
            error = page.locator(".gj-evaluate-error").all_inner_texts()
            assert time.monotonic() < deadline and not any(e.strip() for e in error), error
            page.wait_for_timeout(250)
        wait_rows(page, 3)
        cards = page.locator(".gj-metric-card")
        page.locator(".gj-card-name", has_text="perplexity").first.wait_for(timeout=30_000)  # cards render in turn
        names = page.locator(".gj-card-name").all_inner_texts()
        assert cards.count() >= 3 and "loss" in names and "perplexity" in names, names
        assert (
            page.locator(".gj-evaluate-matrix-card").count() == 0
            or not page.locator(".gj-evaluate-matrix-card").first.is_visible()
        )
        within_viewport(page, ".gj-evaluate-examples .tabulator-col[tabulator-field='loss']", vertically=False)
        within_viewport(page, ".gj-evaluate-examples .tabulator-col[tabulator-field='base loss']", vertically=False)
        page.screenshot(path=artifacts / "31-evaluate-report.png", full_page=True)
        page.locator(".gj-evaluate-examples").first.screenshot(path=artifacts / "31-evaluate-table.png")

        # The token view: click an example's row, its reference under both models, alternatives on hover.
        page.locator(".gj-evaluate-examples .tabulator-row").first.click()
        token = page.locator(".gj-evaluate-tokens .gj-token").first
        token.wait_for(timeout=TIMEOUT)
        title = token.get_attribute("title")
        assert title and "%" in title and len(title.splitlines()) >= 2, title
        assert page.locator(".gj-tokens-who").all_inner_texts()[:2][0].startswith("Fine-tuned model")
        token.scroll_into_view_if_needed()
        token.hover()
        page.screenshot(path=artifacts / "32-evaluate-tokens.png", full_page=True)
        page.locator(".gj-evaluate-tokens").first.screenshot(path=artifacts / "32-evaluate-token-view.png")

        # The attention heatmap of one of the hardest examples, saved by the evaluation.
        page.locator(".gj-evaluate-details .bk-tab").get_by_text("Attention", exact=True).click()
        page.locator(".gj-evaluate-attention canvas").first.wait_for(timeout=TIMEOUT)
        page.wait_for_function(f"() => Bokeh.index.query_one((v) => v.model.name === '{ATTENTION_NAME}') != null")
        title, cells = page.evaluate(HEATMAP, ATTENTION_NAME)
        assert title.endswith("fine-tuned model, layer 1, head 1") and cells > 3, (title, cells)
        page.locator(".gj-attention-head select").select_option(label="2")
        page.wait_for_function(
            f"() => Bokeh.index.query_one((v) => v.model.name === '{ATTENTION_NAME}' && v.frame != null)"
            ".model.title.text.endsWith('head 2')"
        )
        assert "Prompt:" in page.locator(".gj-attention-texts").first.inner_text()
        page.locator(".gj-evaluate-attention canvas").first.scroll_into_view_if_needed()
        page.screenshot(path=artifacts / "33-evaluate-attention.png", full_page=True)

        # The report's two files, downloaded by their links.
        links = page.locator("a.gj-evaluate-download")
        assert links.count() == 2 and "On the server" in page.locator(".gj-evaluate-file-where").first.inner_text()
        saved = {}
        for number in range(2):
            with page.expect_download(timeout=TIMEOUT) as info:
                links.nth(number).click()
            saved[info.value.suggested_filename] = Path(info.value.path()).read_text(encoding="utf-8")
        assert json.loads(saved["report.json"])["examples"] == 3
        assert len(saved["predictions.jsonl"].splitlines()) == 3

        # The crafted report again, from the list of reports.
        page.locator(".gj-evaluate-reports select").select_option(label=report_label(crafted))
        wait_rows(page, len(crafted_rows))
        page.locator(".gj-evaluate-matrix-card").first.wait_for(state="visible", timeout=15_000)
        note = page.locator(".gj-attention-note").get_by_text("This report has no attention maps")
        note.first.wait_for(timeout=TIMEOUT)  # said in plain words where the heatmap was
    finally:
        server.stop()
