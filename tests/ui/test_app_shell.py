"""The dashboard shell built for a real session: navigation, lazy pages, the error boundary, notifications."""

import os
from urllib.parse import parse_qsl

import pytest
from ui_helpers import make_run, make_session, train_steps

from ui.app import PAGE_CLASSES, build_app, choose_theme, link_search
from ui.state.session import NOTICE_SECONDS, PAGES, current_notices
from ui.views.shell import NotificationArea


class BrokenPage:
    def __init__(self, session):
        raise RuntimeError("the view blew up")


def _find(panel, css: str):
    """Every object under `panel` carrying the CSS class."""
    found = []
    for obj in panel.select():
        if css in (getattr(obj, "css_classes", None) or []):
            found.append(obj)
    return found


def test_every_page_is_reachable_and_a_failing_page_shows_its_error(tmp_path):
    session = make_session(tmp_path)
    classes = {**PAGE_CLASSES, "Evaluate": "test_app_shell.BrokenPage", "Export": "ui.views.no_such_page.Page"}
    template = build_app(session, classes)
    area = template.page_area
    assert _find(area.container, "gj-runs-table")
    for page in PAGES:
        session.page = page
        shown = area.container.objects[0]
        assert shown is not None
        if page in area.errors:
            assert _find(shown, "gj-error-message") and _find(shown, "gj-error-back")
    assert "RuntimeError: the view blew up" in area.errors["Evaluate"]
    assert "ModuleNotFoundError" in area.errors["Export"]
    assert "Evaluate" not in area.pages
    session.page = "Evaluate"
    (back,) = _find(area.container, "gj-error-back")
    back.clicks += 1
    assert session.page == "Runs" and _find(area.container, "gj-runs-table")
    assert "Runs" in area.pages and "Training" in area.pages  # my pages build without errors
    navigation = template.navigation
    navigation.buttons.value = "Training"
    assert session.page == "Training" and navigation.compact.value == "Training"


def test_pages_are_kept_and_live_hooks_follow_the_shown_page(tmp_path):
    session = make_session(tmp_path)
    area = build_app(session).page_area
    runs_view, _ = area.pages["Runs"]
    session.page = "Training"
    assert area.current is area.pages["Training"][0] and runs_view.poller._callback is None
    session.page = "Runs"
    assert area.pages["Runs"][0] is runs_view
    assert area.current is runs_view


def test_training_page_shows_a_run(tmp_path):
    session = make_session(tmp_path)
    store = make_run(session, "r")
    store.update_status(state="running", pid=os.getpid(), started="2026-01-01T00:00:00+00:00")
    train_steps(store, 1, 3, total=6, eval_every=3)
    store.log("ERROR disk full")
    template = build_app(session)
    session.open_run("r")
    view, _ = template.page_area.pages["Training"]
    view.tick()
    assert view.plots.sources["train"].data["step"] == [1, 2, 3]
    assert view.plots.sources["eval"].data["step"] == [3]
    assert "3/6" in view.kpis.object
    assert view.buttons["pause"].visible and not view.buttons["unpause"].visible
    assert 'class="gj-log-error"' in view.logs["log.txt"].object
    assert "1 error line" in view.log_count.object
    store.update_status(state="completed")
    view.tick()
    assert not view.buttons["pause"].visible
    (alert,) = _find(template.notification_area.messages, "gj-notification-success")
    assert "r completed" in alert.object


def test_runs_page_table_selection_drives_the_buttons(tmp_path):
    session = make_session(tmp_path)
    make_run(session, "done").update_status(state="completed")
    make_run(session, "busy").update_status(state="running", pid=os.getpid())
    template = build_app(session)
    assert (session.page, session.selected_run) == ("Training", "busy")  # a bare URL opens the running run
    session.page = "Runs"
    view, _ = template.page_area.pages["Runs"]
    order = list(view.table.value["run"])
    assert sorted(order) == ["busy", "done"]
    assert view.table.selection == [order.index("busy")]  # the session's run is selected here too
    view.table.selection = []
    assert view.buttons["open"].disabled
    view.table.selection = [order.index("busy")]
    assert not view.buttons["open"].disabled and view.buttons["delete"].disabled
    view.table.selection = [order.index("done")]
    assert not view.buttons["delete"].disabled
    view.buttons["delete"].clicks += 1
    assert view.confirm_row.visible and "done" in view.confirm_text.object


@pytest.mark.parametrize("user", [None, "alice"])
def test_sign_out_link_only_with_a_login(tmp_path, user):
    from ui.state.session import Session
    from ui.workspace import Workspace

    session = Session(Workspace.for_user(tmp_path, user).ensure())
    html = "".join(str(getattr(obj, "object", "")) for obj in build_app(session).sidebar.objects)
    assert ("/logout" in html) == (user is not None)


def test_a_failing_live_update_is_reported_once(tmp_path):
    session = make_session(tmp_path)
    view, _ = build_app(session).page_area.pages["Runs"]
    view.state.refresh = lambda: 1 / 0  # a fault in the state logic, injected
    view.poller._safely()
    view.poller._safely()
    assert [n[2] for n in session.notifications] == [
        "Live updates of the Runs page failed: ZeroDivisionError: division by zero"
    ]


def _arguments(search: str) -> dict[str, str]:
    return dict(parse_qsl(search.lstrip("?")))


def test_the_url_carries_run_and_page_and_a_reload_lands_there_again(tmp_path):
    session = make_session(tmp_path)
    make_run(session, "old").update_status(state="completed", created="2026-01-01T00:00:00+00:00")
    make_run(session, "mine").update_status(state="completed", created="2026-01-02T00:00:00+00:00")
    session.open_run("old", "Playground")
    search = link_search("?theme=dark&utm=x", session.link(), "dark")
    assert search == "?run=old&page=Playground&utm=x&theme=dark"
    reloaded = make_session(tmp_path)  # a new browser session on the same workspace
    reloaded.open_link(_arguments(search))
    assert (reloaded.selected_run, reloaded.page) == ("old", "Playground") and reloaded.notifications == []
    reloaded.selected_run = None  # a deleted run leaves the URL; the theme stays the user's choice
    assert link_search(search, reloaded.link(), "default") == "?page=Playground&utm=x"
    only_run = make_session(tmp_path)
    only_run.open_link({"run": "old"})
    assert (only_run.selected_run, only_run.page) == ("old", "Training")


@pytest.mark.parametrize("run_id", ["../elsewhere", "gone", "a/b", ".hidden", "x" * 5000, "nul\x00"])
def test_a_url_naming_a_foreign_or_unknown_run_is_explained_not_opened(tmp_path, run_id):
    session = make_session(tmp_path)
    make_run(session, "mine").update_status(state="completed")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "status.json").write_text("{}")
    session.open_link({"run": run_id, "page": "Export"})
    ((_, level, message),) = session.notifications
    assert level == "warning" and "not in your workspace" in message and len(message) < 300
    assert (session.selected_run, session.page) == ("mine", "Export")  # the page asked for, with a run of mine
    session.open_link({"run": run_id})
    assert session.page == "Runs"


def test_without_a_run_in_the_url_the_running_else_the_latest_run_opens_on_training(tmp_path):
    empty = make_session(tmp_path / "empty")
    empty.open_link({})
    assert (empty.selected_run, empty.page) == (None, "Runs")
    session = make_session(tmp_path)
    make_run(session, "older").update_status(state="completed", created="2026-01-01T00:00:00+00:00")
    make_run(session, "newer").update_status(state="failed", created="2026-01-03T00:00:00+00:00")
    session.open_link({})
    assert (session.selected_run, session.page) == ("newer", "Training")
    make_run(session, "live").update_status(state="running", pid=os.getpid(), created="2026-01-02T00:00:00+00:00")
    session.open_link({"page": "Runs"})
    assert (session.selected_run, session.page) == ("live", "Runs")
    session.selected_run = None  # e.g. the selected run was deleted: Training picks the default again
    template = build_app(session)
    session.page = "Training"
    view, _ = template.page_area.pages["Training"]
    assert session.selected_run == "live" and view.state.run_id == "live" and not view.no_run.visible


def test_the_theme_comes_from_the_url_else_the_cookie_the_toggle_left():
    assert choose_theme({}, {}) == "default"
    assert choose_theme({}, {"gj_theme": "dark"}) == "dark"
    assert choose_theme({"theme": "default"}, {"gj_theme": "dark"}) == "default"
    assert choose_theme({"theme": "<script>"}, {"gj_theme": "neon"}) == "default"


def test_one_notification_area_newest_message_no_duplicates_errors_stay(tmp_path, monkeypatch):
    session = make_session(tmp_path)
    area = NotificationArea(session)
    assert not area.layout.visible
    session.notify("Live updates failed", "error")
    session.notify("Live updates failed", "error")  # a repeat is the same message, brought to the top
    assert len(session.notifications) == 1
    session.notify("Saved", "success")
    (shown,) = area.messages.objects
    assert "Saved" in shown.object and area.layout.visible and area.clear_button.visible
    later = session.notifications[-1][0] + NOTICE_SECONDS["success"] + 1
    assert [n[2] for n in current_notices(session.notifications, 0.0, later)] == ["Live updates failed"]
    far = later + 10_000  # an error followed by newer messages times out as a warning does
    assert current_notices(session.notifications, 0.0, far) == []
    session.notify("Live updates failed", "error")  # the newest message, an error: it stays until dismissed
    far = session.notifications[-1][0] + 10_000
    assert [n[1] for n in current_notices(session.notifications, 0.0, far)] == ["error"]
    area._clear()
    assert area.messages.objects == [] and not area.layout.visible
    assert current_notices(session.notifications, area._dismissed_at, far) == []
    session.notify("Checkpoint requested", "info")
    session.notify("Live updates failed", "error")
    assert len(area.messages.objects) == 1 and "gj-notification-error" in area.messages.objects[0].css_classes


def test_a_finished_run_offers_its_next_steps_with_the_run_picked(tmp_path):
    session = make_session(tmp_path)
    store = make_run(session, "done")
    store.update_status(state="running", pid=os.getpid())
    make_run(session, "other").update_status(state="completed", last_checkpoint_step=1)
    template = build_app(session)
    session.open_run("done")
    view, _ = template.page_area.pages["Training"]
    view.tick()
    assert not view.next_row.visible
    store.update_status(state="completed", last_checkpoint_step=3)
    view.tick()
    assert view.next_row.visible and [b.label for b in view.next_buttons] == [
        "Chat in Playground",
        "Evaluate",
        "Export",
    ]
    session.page = "Playground"
    playground, _ = template.page_area.pages["Playground"]
    playground.state.picker.run = "other"  # the user had picked another run there
    session.page = "Training"
    view.next_buttons[0].clicks += 1
    assert (session.page, session.selected_run) == ("Playground", "done")
    assert playground.state.picker.run == "done"
    view.next_buttons[2].clicks += 1
    assert session.page == "Export"


def test_on_cpu_the_accelerator_series_and_device_memory_are_hidden(tmp_path):
    session = make_session(tmp_path)
    cpu, gpu = make_run(session, "cpu"), make_run(session, "gpu")
    train_steps(cpu, 1, 2, total=4)
    train_steps(gpu, 1, 2, total=4)
    gpu.append_metrics({"step": 3, "loss": 1.0, "device_memory_gb": 2.5, "time": 1003.0})
    template = build_app(session)
    session.open_run("cpu")
    view, _ = template.page_area.pages["Training"]
    view.tick()
    assert view.plots.accelerator is False and not view.plots.device_memory.visible
    assert all(not line.visible for line in view.plots._accelerator_lines)
    assert "Device memory" not in view.kpis.object
    session.open_run("gpu")
    view.tick()
    assert view.plots.accelerator is True and view.plots.device_memory.visible
    assert all(line.visible for line in view.plots._accelerator_lines)
    assert "Device memory" in view.kpis.object and "2&#46;50 GB" in view.kpis.object


def test_an_error_stays_on_its_page(tmp_path, monkeypatch):
    """An error from Training does not greet the user on Playground; one said while changing page does."""
    from ui.views import shell

    clock = [1000.0]
    monkeypatch.setattr(shell.time, "time", lambda: clock[0])
    session = make_session(tmp_path)
    area = NotificationArea(session)
    session.notifications = [(clock[0], "error", "Learning rate 'abc' is not usable")]
    assert len(area.messages.objects) == 1
    clock[0] += 30
    session.page = "Playground"
    assert area.messages.objects == [] and not area.layout.visible
    session.notifications = [*session.notifications, (clock[0] - 0.5, "warning", "run x was not found")]
    session.page = "Training"
    (shown,) = area.messages.objects
    assert "run x was not found" in shown.object
