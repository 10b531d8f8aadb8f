"""Every page shows user-derived text as text: hostile file, column, run and model names, errors, logs,
samples and notifications come out of the Markdown, Alert and HTML panes (rendered here by Panel's own
Markdown renderer) as literal text, never as tags, links, headings or code blocks."""

from __future__ import annotations

import dataclasses
import html
import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import panel as pn
import pytest
import yaml
from new_run_helpers import make_wizard
from ui_helpers import make_run, make_session

from gemma_jax.config import JobConfig, validate
from gemma_jax.runs import RunStore
from ui.app import PageArea, build_app
from ui.views.evaluate import EvaluatePage
from ui.views.export import ExportPage
from ui.views.playground import PlaygroundPage
from ui.views.runs import RunsPage
from ui.views.safe_text import escape_text, text_table
from ui.views.shell import NotificationArea
from ui.views.training import TrainingPage
from ui.views.wizard_data import DataView
from ui.views.wizard_method import MethodView
from ui.views.wizard_model import ModelView
from ui.views.wizard_review import ReviewView

IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "</script><script>window.__pwned=1</script>"
FENCE = "```\n# injected"
LINK = "[x](javascript:alert(1))"
HOSTILE = [IMG, SCRIPT, FENCE, LINK]
HOSTILE_LINE = f"{IMG} {SCRIPT} {LINK} **bold** _em_ $x$ www.example.com"  # what fits on one line (a run id)
TEXT_TITLES = {"titleFormatter": "plaintext"}  # Tabulator's escaping formatter (its default writes innerHTML)
FORBIDDEN_TAGS = {"img", "script", "a", "h1", "iframe", "svg", "style"}


class _Rendered(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        if tag == "br":
            self.text.append("\n")

    def handle_data(self, data):
        self.text.append(data)


def rendered(pane) -> _Rendered:
    """The HTML a pane sends to the browser (Markdown rendered by Panel), parsed."""
    parsed = _Rendered()
    parsed.feed(html.unescape(pane._transform_object(pane.object)["object"]))
    return parsed


def panes(*viewables) -> list:
    found = []
    for viewable in viewables:
        found += pn.panel(viewable).select(pn.pane.HTML) + pn.panel(viewable).select(pn.pane.Markdown)
    return found


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _normal(text: str) -> str:
    return " ".join(text.split())


def assert_literal(found: list, *texts: str) -> None:
    """No pane holds a dangerous tag or an event attribute, and each text shows literally in one of them."""
    shown = []
    for pane in found:
        parsed = rendered(pane)
        for tag, attrs in parsed.tags:
            heading_anchor = tag == "a" and dict(attrs).get("href", "").startswith("#")  # Panel's own
            assert tag not in FORBIDDEN_TAGS or heading_anchor, (tag, pane.object)
            assert not any(name.startswith("on") for name, _ in attrs), (attrs, pane.object)
        shown.append(_normal("".join(parsed.text)))
    for text in texts:
        assert any(_normal(text) in page_text for page_text in shown), (text, shown)


@pytest.mark.parametrize("text", [*HOSTILE, HOSTILE_LINE, "1. one\n2) two\n    code\n> quote\n| a |\n|---|", "3/6"])
@pytest.mark.parametrize("pane", [pn.pane.Markdown, pn.pane.Alert, pn.pane.HTML])
def test_escape_text_shows_text_literally_in_every_pane(pane, text):
    parsed = rendered(pane(escape_text(text)))
    assert {tag for tag, _ in parsed.tags} <= {"p", "br"}
    assert "".join(parsed.text).strip("\n").split("\n") == text.split("\n")


def test_tables_show_column_titles_as_text():
    table = text_table(None, disabled=True)
    table.value = pd.DataFrame({IMG: [SCRIPT]})
    model = table.get_root()
    assert model.configuration["columnDefaults"] == TEXT_TITLES
    assert [column.title for column in model.columns][-1] == IMG  # shown by Tabulator's sanitising formatter


def test_data_step_report_and_error(tmp_path):
    wizard = make_wizard(tmp_path)
    view = DataView(wizard)
    view.start_check = lambda: None
    rows = [[IMG, "response"], [SCRIPT, "ok"], [FENCE, "fine"]]
    wizard.data.upload(
        f"{LINK}.csv", "".join(",".join(_csv_field(cell) for cell in row) + "\n" for row in rows).encode()
    )
    report = view._report(wizard.data.run_check(), False, "")
    assert_literal(panes(report), f"The columns found are: '{IMG}'", "x-javascript-alert-1.csv: csv file")
    (table,) = report.select(pn.widgets.Tabulator)
    assert IMG in table.value.columns and table.get_root().configuration["columnDefaults"] == TEXT_TITLES
    for source in HOSTILE:
        assert not wizard.data.use_source(source)
        assert_literal(panes(view._report(None, False, wizard.data.error)), source)


@pytest.mark.parametrize("page_class", [PlaygroundPage, EvaluatePage, ExportPage])
def test_checkpoint_pages_show_errors_and_progress_as_text(tmp_path, page_class):
    session = make_session(tmp_path)
    make_run(session, "r").update_status(state="completed")
    page = page_class(session)
    for text in HOSTILE:
        page.state.error = f"cannot load model '{text}': give tiny:<arch>"
        if page_class is PlaygroundPage:
            page.state.status = text
            page._show_state()
        else:
            page.state.progress = text
            page._render()
        assert_literal(panes(page), text, "tiny:<arch>")


def test_export_page_shows_the_config_in_a_code_view(tmp_path):
    session = make_session(tmp_path)
    name = f"run\n{FENCE}\n{IMG}\n{SCRIPT}"  # a config written before names were checked, or by hand
    cfg = dataclasses.replace(JobConfig(runs_dir=str(session.workspace.runs_dir)), name=name)
    RunStore.create(cfg, run_id="r").update_status(state="completed")
    page = ExportPage(session)
    page._render()
    assert isinstance(page.config, pn.widgets.CodeEditor) and page.config.readonly
    assert yaml.safe_load(page.config.value)["name"] == name
    assert_literal(panes(page))


def test_training_and_runs_pages(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMMA_JAX_VERTEX_ENDPOINT", "127.0.0.1:9")  # the state poll is refused at once, offline
    session = make_session(tmp_path)
    store = make_run(session, HOSTILE_LINE.split(" www")[0].replace("/", "-"))
    run_id = store.run_id
    store.update_status(state="failed", error="\n".join(HOSTILE))
    store.log(f"ERROR {IMG}")
    store.log(SCRIPT)
    store.append_sample({"step": 0, "model": "base", "prompt": FENCE, "output": IMG})
    store.append_sample({"step": 2, "prompt": FENCE, "output": LINK})
    training = TrainingPage(session)
    session.open_run(run_id)
    training.tick()
    assert_literal(panes(training, *training.logs.values(), training.samples), run_id, *HOSTILE)
    jobs = Path(session.workspace.runs_dir) / "vertex_jobs.jsonl"
    hostile_job = {"name": "projects/p/locations/r/customJobs/1", "display_name": IMG, "machine": SCRIPT}
    jobs.write_text(json.dumps({**hostile_job, "state": LINK, "checkpoints": FENCE}) + "\n")
    runs = RunsPage(session)
    runs.state.select(run_id)
    runs.state.request_delete()
    assert runs.vertex_pane.visible
    runs.storage.state.measure()
    runs.storage.state._thread.join(30)
    runs.refresh()  # the page's refresh shows the measured storage
    assert runs.storage.table.visible and run_id in runs.storage.table.value["name"].tolist()
    assert_literal(panes(runs), run_id, IMG, SCRIPT)


def test_notifications_and_the_error_boundary(tmp_path):
    session = make_session(tmp_path)
    area = NotificationArea(session)
    for text in HOSTILE:
        session.notify(f"uploaded {text}", "success")
    area.shown = len(HOSTILE)
    area._render()
    assert_literal(panes(area), *(f"uploaded {text}" for text in HOSTILE))

    pages = PageArea(session, {"Runs": "test_injection.HostilePage"})
    assert "Runs" in pages.errors
    assert_literal(panes(pages.container), *HOSTILE)


class HostilePage:
    def __init__(self, _session):
        raise ValueError("\n".join(HOSTILE))


def test_sign_out_shows_the_user_name_as_text(tmp_path):
    from ui.state.session import Session
    from ui.workspace import Workspace

    session = Session(Workspace(tmp_path / "ws", user=IMG).ensure())
    (logout,) = [obj for obj in build_app(session).sidebar.objects if isinstance(obj, pn.pane.HTML)]
    parsed = rendered(logout)
    assert [tag for tag, _ in parsed.tags] == ["a"] and "".join(parsed.text) == f"Sign out (as {IMG})"


def test_wizard_steps_show_names_sources_and_errors_as_text(tmp_path):
    wizard = make_wizard(tmp_path)
    wizard.set("name", "\n".join(HOSTILE))
    wizard.step = "Review"
    review = ReviewView(wizard)
    review._refresh()
    assert_literal([review.command, review.problems], *HOSTILE, "the run name may not contain line breaks")
    wizard.model.describe_memory = lambda: f"Estimated for {IMG}"  # the memory check names the source
    wizard.model.warnings = lambda: [FENCE, LINK]
    assert_literal(panes(ModelView(wizard)), f"Estimated for {IMG}", FENCE, LINK)
    wizard.set("schedule.name", IMG)
    method = MethodView(wizard)
    assert_literal([method.steps_note], IMG)


@pytest.mark.parametrize("name", ["two\nlines", "cr\rreturn", "tab\there", "bell\x07", "rtl\u202egpj", "sep\u2028x"])
def test_run_names_with_line_breaks_or_control_characters_are_refused(name):
    problems = validate(JobConfig(name=name))
    assert any("the run name may not contain line breaks or control characters" in p for p in problems)


def test_run_names_are_capped_and_a_long_plain_name_still_makes_a_run_directory(tmp_path):
    assert any("at most 100" in p for p in validate(JobConfig(name="x" * 101)))
    for name in ("x" * 100, "データ" * 33 + "x", "my run_1.v2"):
        cfg = JobConfig(name=name, runs_dir=str(tmp_path))
        assert not [p for p in validate(cfg) if p.startswith("name")]
        assert RunStore.create(cfg).path.parent == tmp_path
