"""The New-run page: a four-step wizard (Data -> Model -> Method & hyperparameters -> Review)."""

from __future__ import annotations

import panel as pn

from ui.state.new_run import STEPS, NewRunState
from ui.state.session import Session
from ui.views.wizard_data import DataView, check_in_background
from ui.views.wizard_method import MethodView
from ui.views.wizard_model import ModelView
from ui.views.wizard_review import ReviewView


class NewRunPage(pn.viewable.Viewer):
    """Shows one step at a time; Back/Next and the step bar move between them."""

    def __init__(self, session: Session, hardware=None, **params):
        super().__init__(**params)
        self.session = session
        self.state = NewRunState(session, hardware)
        self.views = {
            "Data": DataView(self.state),
            "Model": ModelView(self.state),
            "Method": MethodView(self.state),
            "Review": ReviewView(self.state),
        }
        self.bar = pn.widgets.RadioButtonGroup(
            options=list(STEPS), value=self.state.step, color="primary", css_classes=["gj-newrun-steps"]
        )
        self.back = pn.widgets.Button(label="← Back", css_classes=["gj-newrun-back"])
        self.next = pn.widgets.Button(label="Next →", color="primary", css_classes=["gj-newrun-next"])
        self.bar.param.watch(lambda event: self.state.go(event.new), "value")
        self.back.on_click(lambda _: self.state.back())
        self.next.on_click(lambda _: self.state.next())
        self.state.param.watch(self._moved, "step")
        self.state.param.watch(self._auto_check, "config")
        self._moved()

    def _moved(self, *_) -> None:
        step = self.state.step
        self.bar.value = step
        self.back.disabled = step == STEPS[0]
        self.next.visible = step != STEPS[-1]
        self._auto_check()

    def _auto_check(self, *_) -> None:
        """In a served page, keep the data report current without a click (a new user sees the example's)."""
        data = self.state.data
        served = pn.state.curdoc is not None and pn.state.curdoc.session_context is not None
        if served and data.result is None and not data.checking and not data.error:
            check_in_background(self.state)

    def activate(self) -> None:
        """Called by the shell each time the page is shown: pick up a run cloned on the Runs page."""
        if self.state.take_clone():
            self.session.notify("the wizard starts from the cloned run's config", "info")

    def _body(self, step: str):
        return self.views[step]

    def __panel__(self):
        return pn.Column(
            self.bar,
            pn.bind(self._body, self.state.param.step),
            pn.Row(self.back, self.next),
            sizing_mode="stretch_width",
            css_classes=["gj-newrun"],
        )
