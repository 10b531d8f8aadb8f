"""The pieces of the dashboard around the pages: the page navigation and the notification area."""

from __future__ import annotations

import time

import panel as pn
import param

from ui.state.session import PAGES
from ui.views.safe_text import escape_text

_LEVEL_ALERT = {"info": "primary", "success": "success", "warning": "warning", "error": "danger"}
_TOAST_DURATION_MS = {"info": 4000, "success": 4000, "warning": 8000, "error": 0}  # errors stay until closed


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


class NotificationArea(pn.viewable.Viewer):
    """The latest messages of session.notify in the page, mirrored as toasts when the server supports them."""

    shown = param.Integer(default=3, doc="how many recent messages stay on screen")

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self._cleared_at = 0.0
        self._toasted_at = session.notifications[-1][0] if session.notifications else 0.0
        self.messages = pn.Column(sizing_mode="stretch_width", css_classes=["gj-notifications"], margin=0)
        self.clear_button = pn.widgets.Button(
            label="Dismiss", color="light", visible=False, css_classes=["gj-notifications-clear"], width=90
        )
        self.clear_button.on_click(self._clear)
        session.param.watch(self._render, "notifications")
        self._render()

    def _clear(self, _event=None) -> None:
        self._cleared_at = time.time()
        self._render()

    def _render(self, _event=None) -> None:
        recent = [n for n in self.session.notifications if n[0] > self._cleared_at][-self.shown :]
        self.messages.objects = [
            pn.pane.Alert(
                escape_text(message),
                alert_type=_LEVEL_ALERT.get(level, "primary"),
                sizing_mode="stretch_width",
                margin=(2, 5),
                css_classes=[f"gj-notification-{level}"],
            )
            for _, level, message in reversed(recent)
        ]
        self.clear_button.visible = bool(recent)
        self._toast()

    def _toast(self) -> None:
        new = [n for n in self.session.notifications if n[0] > self._toasted_at]
        if new:
            self._toasted_at = new[-1][0]
        toasts = pn.state.notifications if pn.state.curdoc is not None else None
        if toasts is None:
            return
        for _, level, message in new:
            toasts.send(escape_text(message), duration=_TOAST_DURATION_MS.get(level, 4000), type=level)

    def __panel__(self):
        return pn.Column(self.messages, self.clear_button, sizing_mode="stretch_width", margin=0)
