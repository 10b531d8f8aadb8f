"""The dashboard shell built for a real session: navigation, lazy pages, the error boundary, notifications."""

import os

import pytest
from ui_helpers import make_run, make_session, train_steps

from ui.app import PAGE_CLASSES, build_app
from ui.state.session import PAGES


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
    view, _ = template.page_area.pages["Runs"]
    order = list(view.table.value["run"])
    assert sorted(order) == ["busy", "done"]
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
