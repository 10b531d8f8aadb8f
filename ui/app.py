"""The dashboard shell: a template with the page navigation, theme toggle, notifications and the current page.

Pages are built lazily, once per browser session, from `ui.views.<module>.<Class>(session)`.
The address bar carries ?run=ID&page=PAGE (UrlLink), so a reload lands where the user was; the
theme is remembered in a cookie.
A page that fails to import or build shows its error and a way back instead of a blank
area, so one broken page never takes the dashboard down. `panel serve ui/app.py` serves it
for development (one local workspace, see ui/README.md); `gemma-jax ui` is the real entry point.
"""

from __future__ import annotations

import base64
import importlib
import traceback
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

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
THEMES = ("default", "dark")
THEME_COOKIE = "gj_theme"
_LINK_KEYS = ("run", "page", "theme")  # the query parameters the dashboard writes
# The template's theme toggle reloads the page with ?theme=...; remember it for visits without one.
THEME_COOKIE_JS = (
    "(function () { var t = new URLSearchParams(window.location.search).get('theme');"
    f" if (t === 'dark' || t === 'default') document.cookie = '{THEME_COOKIE}=' + t +"
    " '; path=/; max-age=31536000; SameSite=Lax'; })();"
)


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
        """Swap in the page the session names. A page not built yet first shows a spinner and is built on
        the next tick, so the click is answered at once (building New run can take seconds on a busy CPU)."""
        page = self.session.page
        document = pn.state.curdoc
        served = document is not None and document.session_context is not None
        if served and page not in self.pages and page not in self.errors:
            self.container.objects = [
                pn.pane.Markdown(f"Opening {escape_text(page)}…", css_classes=["gj-page-opening"])
            ]
            self.container.loading = True
            document.add_next_tick_callback(self._show_now)
            return
        self._show_now()

    def _show_now(self) -> None:
        self.container.loading = False
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


def choose_theme(arguments: dict[str, str], cookies: dict[str, str]) -> str:
    """The light/dark theme: the URL's `theme=` (the template's toggle reloads the page with it), else
    the THEME_COOKIE remembered from an earlier visit, else light."""
    for theme in (arguments.get("theme"), cookies.get(THEME_COOKIE)):
        if theme in THEMES:
            return theme
    return "default"


def link_search(search: str, link: dict[str, str], theme: str = "default") -> str:
    """`search` (location.search: "?a=1&...") with `link`'s run and page first, then `theme` unless it is
    the default one; other parameters kept, a run no longer selected removed."""
    query = [(k, v) for k, v in parse_qsl(search.lstrip("?"), keep_blank_values=True) if k not in _LINK_KEYS]
    return "?" + urlencode([*link.items(), *query, *([("theme", theme)] if theme != "default" else [])])


class UrlLink:
    """Keeps ?run=ID&page=PAGE (and the theme) in the browser's address bar, so a reload or a copied link
    opens the same run on the same page. Reading it back is Session.open_link (checked like any run id)."""

    def __init__(self, session: Session, location, theme: str) -> None:
        self.session, self.location, self.theme = session, location, theme
        session.param.watch(self.write, ["page", "selected_run"])
        # the browser sends its own address once the page is shown: write ours after that
        pn.state.onload(self.write)

    def write(self, _event=None) -> None:
        search = link_search(self.location.search or "", self.session.link(), self.theme)
        if self.location.search != search:
            self.location.search = search


def _call(view, hook: str) -> None:
    """Pages with live updates start and stop them when shown and hidden (optional hooks)."""
    method = getattr(view, hook, None)
    if callable(method):
        method()


def build_app(session: Session, page_classes: dict[str, str] | None = None) -> pn.template.FastListTemplate:
    """The whole dashboard for one browser session."""
    arguments = _request_arguments()
    session.open_link(arguments)
    theme = choose_theme(arguments, pn.state.cookies if pn.state.curdoc is not None else {})
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
        theme=theme,
        theme_toggle=True,
        busy_indicator=None,  # its spinner animates on every periodic update: CPU the training needs
        sidebar_width=200,
        raw_css=[NARROW_CSS, HIDE_SIDEBAR_WHEN_NARROW_CSS],
        main_layout=None,
    )
    template.page_area = pages  # tests and the server reach the pages through the template
    template.notification_area = notifications
    template.navigation = navigation
    location = pn.state.location if pn.state.curdoc is not None else None
    template.url_link = UrlLink(session, location, theme) if location is not None else None
    return template


def load_extensions() -> None:
    """Panel's extensions for every page, and the script that idles FileDropper's animation loop.

    The script follows FileDropper's own (config.js_files come after the extensions'), inlined as a
    data URL so that `gemma-jax ui` and `panel serve ui/app.py` need no static route.
    """
    scripts = {"gj_filepond_idle": FILEPOND_IDLE_JS.read_bytes(), "gj_theme": THEME_COOKIE_JS.encode()}
    pn.extension(
        *EXTENSIONS,
        js_files={
            name: f"data:text/javascript;base64,{base64.b64encode(script).decode('ascii')}"
            for name, script in scripts.items()
        },
    )


def _development_app() -> None:
    """`panel serve ui/app.py`: one local workspace in ./gemma-jax-workspace with a job runner."""
    from ui.serve import development_session

    load_extensions()
    build_app(development_session()).servable(title=TITLE)


if __name__.startswith("bokeh_app"):
    _development_app()
