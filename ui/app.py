"""The dashboard shell: a template with the page navigation, theme toggle, notifications and the current page.

Pages are built lazily, once per browser session, from `ui.views.<module>.<Class>(session)`.
A page that fails to import or build shows its error and a way back instead of a blank
area, so one broken page never takes the dashboard down. `panel serve ui/app.py` serves it
for development (one local workspace, see ui/README.md); `gemma-jax ui` is the real entry point.
"""

from __future__ import annotations

import base64
import importlib
import traceback
from pathlib import Path

import panel as pn
import param

from ui.state.session import Session
from ui.views.safe_text import escape_text, preformatted
from ui.views.shell import HIDE_SIDEBAR_WHEN_NARROW_CSS, NavigationArea, NotificationArea

PAGE_CLASSES = {
    "Runs": "ui.views.runs.RunsPage",
    "New run": "ui.views.new_run.NewRunPage",
    "Training": "ui.views.training.TrainingPage",
    "Playground": "ui.views.playground.PlaygroundPage",
    "Evaluate": "ui.views.evaluate.EvaluatePage",
    "Export": "ui.views.export.ExportPage",
}
TITLE = "gemma-jax"
# Panel extensions every page may use; loaded once by the server (FileDropper uploads in chunks).
EXTENSIONS = ("tabulator", "filedropper", "codeeditor")
FILEPOND_IDLE_JS = Path(__file__).parent / "static" / "filepond_idle.js"
NARROW_CSS = "@media (max-width: 600px) { #main { padding: 4px !important; } }"


def _load_class(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class PageArea(param.Parameterized):
    """The current page, or the error that stopped it from showing; pages are kept for the session."""

    def __init__(self, session: Session, page_classes: dict[str, str] | None = None, **params):
        super().__init__(**params)
        self.session = session
        self.page_classes = dict(page_classes or PAGE_CLASSES)
        self.pages: dict[str, object] = {}
        self.errors: dict[str, str] = {}
        self.current = None
        # stretch_width, not stretch_both: stretching Bokeh plots swapped into a stretch_both column collapse
        self.container = pn.Column(sizing_mode="stretch_width", css_classes=["gj-page"], margin=0)
        session.param.watch(self._show, "page")
        self._show()

    def build(self, page: str):
        """The page's view (built on first use), or the error panel when it cannot be built."""
        if page in self.pages:
            return self.pages[page]
        try:
            view = _load_class(self.page_classes[page])(self.session)
            panel = pn.panel(view)
        except Exception as err:  # noqa: BLE001  (the error boundary: any failure becomes a message)
            self.errors[page] = f"{type(err).__name__}: {err}"
            detail = traceback.format_exc(limit=-3)
            return None, self._error_panel(page, self.errors[page], detail)
        self.pages[page] = (view, panel)
        return self.pages[page]

    def _error_panel(self, page: str, message: str, detail: str):
        back = pn.widgets.Button(label="Back to Runs", color="primary", css_classes=["gj-error-back"])
        back.on_click(lambda _event: setattr(self.session, "page", "Runs"))
        return pn.Column(
            pn.pane.Alert(
                f"**The {page} page could not be shown.** {escape_text(message)}",
                alert_type="danger",
                sizing_mode="stretch_width",
                css_classes=["gj-error-message"],
            ),
            pn.pane.HTML(preformatted(detail), sizing_mode="stretch_width", css_classes=["gj-error-detail"]),
            back,
            sizing_mode="stretch_width",
            css_classes=["gj-error"],
        )

    def _show(self, _event=None) -> None:
        view, panel = self.build(self.session.page)
        if self.current is not None and self.current is not view:
            _call(self.current, "deactivate")
        if view is not None and view is not self.current:
            _call(view, "activate")
        self.current = view
        self.container.objects = [panel]


def _request_arguments() -> dict[str, str]:
    """The page's URL query (?run=ID&page=Playground), decoded; empty outside a served session."""
    arguments = getattr(pn.state, "session_args", None) or {}
    return {key: values[-1].decode("utf-8", "replace") for key, values in arguments.items() if values}


def apply_link(session: Session, arguments: dict[str, str]) -> None:
    """Open the run and page a link names (the CLI and notifications print such links)."""
    run_id, page = arguments.get("run"), arguments.get("page")
    plain = bool(run_id) and run_id == Path(run_id).name and not run_id.startswith(".")
    if plain and (session.workspace.runs_dir / run_id).is_dir():
        session.open_run(run_id, page if page in session.param.page.objects else "Training")
    elif page in session.param.page.objects:
        session.page = page


def _call(view, hook: str) -> None:
    """Pages with live updates start and stop them when shown and hidden (optional hooks)."""
    method = getattr(view, hook, None)
    if callable(method):
        method()


def build_app(session: Session, page_classes: dict[str, str] | None = None) -> pn.template.FastListTemplate:
    """The whole dashboard for one browser session."""
    apply_link(session, _request_arguments())
    pages = PageArea(session, page_classes)
    notifications = NotificationArea(session)
    user = f"signed in as {session.workspace.user}" if session.workspace.user else ""
    navigation = NavigationArea(session)
    sidebar = [navigation]
    if user:
        logout = pn.pane.HTML(f'<a href="/logout" class="gj-logout">Sign out ({escape_text(user[10:])})</a>')
        sidebar.append(logout)
    template = pn.template.FastListTemplate(
        title=TITLE,
        sidebar=sidebar,
        main=[pn.Column(navigation.compact, notifications, pages.container, sizing_mode="stretch_width", margin=0)],
        theme_toggle=True,
        busy_indicator=None,  # its spinner animates on every periodic update: CPU the training needs
        sidebar_width=200,
        raw_css=[NARROW_CSS, HIDE_SIDEBAR_WHEN_NARROW_CSS],
        main_layout=None,
    )
    template.page_area = pages  # tests and the server reach the pages through the template
    template.notification_area = notifications
    template.navigation = navigation
    return template


def load_extensions() -> None:
    """Panel's extensions for every page, and the script that idles FileDropper's animation loop.

    The script follows FileDropper's own (config.js_files come after the extensions'), inlined as a
    data URL so that `gemma-jax ui` and `panel serve ui/app.py` need no static route.
    """
    script = base64.b64encode(FILEPOND_IDLE_JS.read_bytes()).decode("ascii")
    pn.extension(
        *EXTENSIONS, notifications=True, js_files={"gj_filepond_idle": f"data:text/javascript;base64,{script}"}
    )


def _development_app() -> None:
    """`panel serve ui/app.py`: one local workspace in ./gemma-jax-workspace with a job runner."""
    from ui.serve import development_session

    load_extensions()
    build_app(development_session()).servable(title=TITLE)


if __name__.startswith("bokeh_app"):
    _development_app()
