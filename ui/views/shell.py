"""The pieces of the dashboard around the pages: the page navigation and the notification area."""

from __future__ import annotations

import time

import panel as pn
import param

from ui.state.session import PAGES, current_notices, next_expiry
from ui.views.safe_text import escape_text

_LEVEL_ALERT = {"info": "primary", "success": "success", "warning": "warning", "error": "danger"}
# In view however far the page is scrolled, opaque so that the page scrolling under it does not show through.
STICKY_CSS = ":host { position: sticky; top: 0; z-index: 10; background: var(--panel-background-color, #ffffff); }"


NARROW_MAX_PX = 600
COMPACT_ONLY_CSS = f":host {{ display: none; }} @media (max-width: {NARROW_MAX_PX}px) {{ :host {{ display: block; }} }}"
HIDE_SIDEBAR_WHEN_NARROW_CSS = f"@media (max-width: {NARROW_MAX_PX}px) {{ #sidebar {{ display: none !important; }} }}"


class NavigationArea(pn.viewable.Viewer):
    """The six pages bound to session.page: buttons in the sidebar, and a drop-down (`compact`) for the top
    of the page that only shows on narrow screens, where the sidebar is hidden to leave the width to the page."""

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self.buttons = pn.widgets.RadioButtonGroup(
            options=list(PAGES),
            value=session.page,
            orientation="vertical",
            color="primary",
            variant="outline",
            sizing_mode="stretch_width",
            css_classes=["gj-nav"],
        )
        self.buttons.link(session, value="page", bidirectional=True)
        self.compact = pn.widgets.Select(
            options=list(PAGES),
            value=session.page,
            sizing_mode="stretch_width",
            css_classes=["gj-nav-compact"],
            stylesheets=[COMPACT_ONLY_CSS],
        )
        self.compact.link(session, value="page", bidirectional=True)

    def __panel__(self):
        return self.buttons


PAGE_CHANGE_GRACE_S = 2.0  # a message this recent when the page changes belongs to the change


class NotificationArea(pn.viewable.Viewer):
    """The one place session.notify shows up: the newest message, above the page, until it times out
    (NOTICE_SECONDS; errors never do), the user dismisses it or goes to another page. An older error comes
    back once a newer message has timed out, so it is not missed on its page."""

    shown = param.Integer(default=1, doc="how many recent messages are on screen at once")

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self._dismissed_at = 0.0
        self._timer = None
        self.messages = pn.Column(sizing_mode="stretch_width", css_classes=["gj-notifications"], margin=0)
        self.clear_button = pn.widgets.Button(
            label="Dismiss", color="light", visible=False, css_classes=["gj-notifications-clear"], width=90
        )
        self.clear_button.on_click(self._clear)
        self.layout = pn.Row(
            self.messages,
            self.clear_button,
            sizing_mode="stretch_width",
            margin=0,
            visible=False,
            stylesheets=[STICKY_CSS],
            css_classes=["gj-notification-area"],
        )
        session.param.watch(self._render, "notifications")
        session.param.watch(self._left_page, "page")
        self._render()

    def _clear(self, _event=None) -> None:
        self._dismissed_at = time.time()
        self._render()

    def _left_page(self, _event=None) -> None:
        """Messages about the page left behind stay behind (an error typed on Training must not greet the
        user on Playground); one said while changing page (e.g. why the asked-for run was not opened) stays."""
        self._dismissed_at = max(self._dismissed_at, time.time() - PAGE_CHANGE_GRACE_S)
        self._render()

    def _render(self, _event=None) -> None:
        now = time.time()
        notices = current_notices(self.session.notifications, self._dismissed_at, now, self.shown)
        self.messages.objects = [
            pn.pane.Alert(
                escape_text(message),
                alert_type=_LEVEL_ALERT.get(level, "primary"),
                sizing_mode="stretch_width",
                margin=(2, 5),
                css_classes=[f"gj-notification-{level}"],
            )
            for _, level, message in notices
        ]
        self.clear_button.visible = self.layout.visible = bool(notices)
        self._schedule(next_expiry(notices), now)

    def _schedule(self, expiry: float | None, now: float) -> None:
        """Render again when the message on screen times out (only inside a served page)."""
        document = pn.state.curdoc
        if document is None or document.session_context is None:
            return
        if self._timer is not None:
            try:
                document.remove_timeout_callback(self._timer)
            except ValueError:  # it already ran
                pass
            self._timer = None
        if expiry is not None:
            self._timer = document.add_timeout_callback(self._render, max(int((expiry - now) * 1000), 0) + 50)

    def __panel__(self):
        return self.layout
