"""Script injection and uploads in Chromium against a real `gemma-jax ui` behind a login.

Hostile text goes in where a user can put it (a CSV column header and cell, a typed data source, a
run's model source and multi-line name, a file name) and comes out where the dashboard echoes it (the
preview table's titles, the data error, the Evaluate error, the Export page's config). Each time no
script ran (`window.__pwned` stays undefined), no dialog opened, and the text shows literally. Then two
uploads in turn: the data step trains on the second.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from security_helpers import login

from gemma_jax.config import JobConfig
from gemma_jax.runs import RunStore
from ui.workspace import Workspace

IMG = '<img src=x onerror="window.__pwned=1;alert(1)">'
SCRIPT = "</script><script>window.__pwned=1;alert(1)</script>"
FENCE = "```\n# injected"
LINK = "[x](javascript:alert(1))"
TIMEOUT = 60_000
# The text of an element, its shadow roots included (Panel renders its widgets inside them).
TEXT = """element => { const parts = [];
  const visit = node => { if (node.nodeType === 3) parts.push(node.nodeValue);
    if (node.shadowRoot) visit(node.shadowRoot); for (const child of node.childNodes) visit(child); };
  visit(element); return parts.join(""); }"""
RUN_ID = "hostile-run"


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def hostile_run(secure_server):
    """A run of alice's with a hostile model source and a multi-line name (a config from before names were
    checked, or written by hand), and a checkpoint folder so Evaluate starts and fails on the source."""
    workspace = Workspace.for_user(secure_server.root, "alice")
    cfg = dataclasses.replace(JobConfig(runs_dir=str(workspace.runs_dir)), name=f"run\n{FENCE}\n{IMG}")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, source=IMG))
    store = RunStore.create(cfg, run_id=RUN_ID)
    store.update_status(state="completed")
    (store.path / "checkpoints" / "1").mkdir(parents=True)
    return store


@pytest.fixture
def page(browser, secure_server, hostile_run):
    """alice's page, recording every dialog (none may open)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    login(page, secure_server, "alice")
    yield page
    page.close()


def assert_inert(page, where: str) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined", f"a script ran ({where})"
    assert page.dialogs == [], f"a dialog opened ({where}): {page.dialogs}"


def text_of(locator) -> str:
    return locator.first.evaluate(TEXT) if locator.count() else ""


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT / 1000
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def wait_for_text(page, css: str, *texts: str) -> None:
    """Wait until the element `css` shows every one of `texts` literally; no script may run meanwhile."""

    def shown() -> bool:
        assert_inert(page, css)
        return all(text in text_of(page.locator(css)) for text in texts)

    wait_until(shown, f"{texts} in {css}")
    assert_inert(page, css)


@pytest.mark.slow
def test_hostile_text_shows_as_text_and_the_latest_upload_is_used(page, secure_server):
    page.locator(".gj-nav").get_by_text("New run", exact=True).first.click()
    upload = page.locator(".gj-newrun-upload input[type=file]")

    # 1. A CSV whose header and cells are markup, under a file name that is markup too.
    csv = f"{_csv_field(IMG)},response\n{_csv_field(SCRIPT)},ok\n{_csv_field(LINK)},fine\n"
    upload.set_input_files(files=[{"name": f"{IMG}.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
    wait_for_text(page, ".gj-newrun-rows", IMG, SCRIPT, LINK)

    # 2. A typed data source echoed in the data error.
    source = page.locator(".gj-newrun-source input")
    source.fill(IMG)
    page.locator(".gj-newrun-use-source button").click()
    wait_for_text(page, ".gj-newrun-data-error", IMG)

    # 3. Two uploads in turn: the second is the one the run will train on.
    for name in ("first.csv", "second.csv"):
        body = f"prompt,response\n{name} question,{name} answer\n"
        upload.set_input_files(files=[{"name": name, "mimeType": "text/csv", "buffer": body.encode()}])
        wait_until(lambda name=name: source.input_value().endswith(f"/{name}"), f"the data step to use {name}")
    wait_for_text(page, ".gj-newrun-rows", "second.csv question")
    names = sorted(path.name for path in Workspace.for_user(secure_server.root, "alice").uploads_dir.iterdir())
    assert "first.csv" in names and "second.csv" in names and "first-2.csv" not in names, names  # each saved once

    # 4. The model source in the Evaluate error, the multi-line name in the Export page's config.
    page.goto(f"{secure_server.url}?run={RUN_ID}&page=Evaluate")
    page.locator(".gj-evaluate-run button").click()
    wait_for_text(page, ".gj-evaluate-error", f"cannot load model '{IMG}'", "tiny:<arch>")
    page.locator(".gj-nav").get_by_text("Export", exact=True).first.click()
    wait_for_text(page, ".gj-export-config", "# injected", IMG)
