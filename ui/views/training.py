"""The Training page: one run followed live — controls, key figures, plots, logs, samples, system usage.

A per-session periodic callback (POLL_MS) calls TrainingState.poll(), which reads only what
the run appended since the last tick; this view applies the result and re-renders a part
only when its data changed.
"""

from __future__ import annotations

import panel as pn

from gemma_jax.runs.schema import LOG_FILE, PROCESS_LOG_FILE, State, Status
from ui.state.kpis import kpi_cards
from ui.state.run_logs import is_error_line
from ui.state.run_words import end_message_words, pending_words, state_words
from ui.state.training import NEXT_STEPS, TrainingState
from ui.views.poller import Poller
from ui.views.safe_text import escape_text
from ui.views.training_plots import TrainingPlots

POLL_MS = 1000  # metric to browser within ~1 s (target 2 s); each tick costs the job CPU
_CONTROLS = (  # (action key, label, button type, css class, TrainingState method)
    ("pause", "Pause", "warning", "gj-training-pause", "pause"),
    ("unpause", "Continue", "success", "gj-training-unpause", "unpause"),
    ("save", "Save checkpoint now", "primary", "gj-training-save", "save_now"),
    ("stop", "Stop early", "warning", "gj-training-stop", "stop_early"),
    ("abort", "Abort", "danger", "gj-training-abort", "abort"),
    ("resume", "Resume run", "success", "gj-training-resume", "resume"),
)
_NEXT_LABELS = {"Playground": "Chat in Playground", "Evaluate": "Evaluate", "Export": "Export"}


def render_kpis(kpis: dict, storage: int | None, storage_note: str = "") -> str:
    cards = "".join(
        f'<div class="gj-kpi"><div class="gj-kpi-label">{escape_text(label)}</div>'
        f'<div class="gj-kpi-value">{escape_text(value)}</div>'
        + (f'<div class="gj-kpi-note">{escape_text(note)}</div>' if note else "")
        + "</div>"
        for label, value, note in kpi_cards(kpis, storage, storage_note)
    )
    return f'<div class="gj-kpis">{cards}</div>'


def render_log(lines) -> str:
    """The log as HTML, with ERROR and Traceback lines highlighted."""
    body = "\n".join(
        f'<span class="gj-log-error">{escape_text(line)}</span>' if is_error_line(line) else escape_text(line)
        for line in lines
    )
    return f'<pre class="gj-log">{body or "(empty)"}</pre>'


PAGE_CSS = """
.gj-kpis { display: flex; flex-wrap: wrap; gap: 8px; }
.gj-kpi { border: 1px solid rgba(128,128,128,.35); border-radius: 6px; padding: 6px 10px;
          min-width: 110px; flex: 1 1 110px; }
.gj-kpi-label { font-size: 0.8em; opacity: .75; }
.gj-kpi-value { font-size: 1.15em; font-weight: 600; }
.gj-kpi-note { font-size: 0.75em; opacity: .7; }
.gj-log { max-height: 360px; overflow: auto; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
.gj-log-error { color: #d9534f; font-weight: 600; }
.gj-samples { width: 100%; border-collapse: collapse; }
.gj-samples th, .gj-samples td { text-align: left; vertical-align: top; padding: 6px; white-space: pre-wrap;
                                 border-bottom: 1px solid rgba(128,128,128,.35); width: 33%; }
"""


class TrainingPage(pn.viewable.Viewer):
    """The selected run, live."""

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self.state = TrainingState(session)
        self.plots = TrainingPlots()
        self.poller = Poller(self.tick, POLL_MS, session, "Training")
        self._log_seen = self._samples_seen = -1
        self.title = pn.pane.Markdown("", css_classes=["gj-training-title"], margin=(0, 10), disable_anchors=True)
        self.badge = pn.pane.HTML("", css_classes=["gj-training-state"])
        self.error = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["gj-training-error"])
        self.buttons = {}
        for key, label, kind, css, method in _CONTROLS:
            button = pn.widgets.Button(label=label, color=kind, css_classes=[css], visible=False, margin=(5, 5))
            button.on_click(lambda _event, m=method: self._act(m))
            self.buttons[key] = button
        self.lr_input = pn.widgets.TextInput(
            label="Peak learning rate", placeholder="e.g. 1e-4", width=140, css_classes=["gj-training-lr"]
        )
        self.lr_button = pn.widgets.Button(label="Set", css_classes=["gj-training-set-lr"], align="end", width=60)
        self.lr_button.on_click(lambda _event: self._set_lr())
        self.lr_row = pn.Row(self.lr_input, self.lr_button, visible=False)
        self.next_buttons = []
        for page in NEXT_STEPS:
            button = pn.widgets.Button(
                label=_NEXT_LABELS[page], color="primary", css_classes=[f"gj-training-next-{page.lower()}"], margin=5
            )
            button.on_click(lambda _event, p=page: self.state.go_on(p))
            self.next_buttons.append(button)
        self.next_row = pn.FlexBox(
            pn.pane.Markdown("**Next:**", margin=(0, 10)),
            *self.next_buttons,
            align_items="center",
            visible=False,
            css_classes=["gj-training-next"],
        )
        self.kpis = pn.pane.HTML(
            "", sizing_mode="stretch_width", css_classes=["gj-training-kpis"], stylesheets=[PAGE_CSS]
        )
        self.log_count = pn.pane.Markdown("", css_classes=["gj-training-log-errors"])
        self.logs = {
            name: pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[PAGE_CSS], css_classes=[css])
            for name, css in ((LOG_FILE, "gj-training-log"), (PROCESS_LOG_FILE, "gj-training-process-log"))
        }
        self.samples = pn.pane.HTML(
            "", sizing_mode="stretch_width", css_classes=["gj-training-samples"], stylesheets=[PAGE_CSS]
        )
        self.system_text = pn.pane.Markdown("", css_classes=["gj-training-system"])
        self.no_run = pn.pane.Alert(
            "No run selected. Open one from the **Runs** page.", alert_type="info", css_classes=["gj-training-no-run"]
        )
        self.body = pn.Column(
            pn.Row(self.title, self.badge),
            self.error,
            self.next_row,
            pn.FlexBox(*self.buttons.values(), self.lr_row, align_items="end"),
            self.kpis,
            self.plots.metrics,
            pn.Tabs(
                ("Logs", pn.Column(self.log_count, pn.Tabs(*self.logs.items()), sizing_mode="stretch_width")),
                ("Samples", self.samples),
                ("System", pn.Column(self.system_text, self.plots.system, sizing_mode="stretch_width")),
                sizing_mode="stretch_width",
                css_classes=["gj-training-tabs"],
                dynamic=True,  # only the shown tab is in the browser: hidden ones cost no repaints
            ),
            sizing_mode="stretch_width",
        )
        self.layout = pn.Column(self.no_run, self.body, sizing_mode="stretch_width")
        self.state.param.watch(self._apply_actions, "actions")
        self.tick()

    # -- live updates ---------------------------------------------------------------------
    def activate(self) -> None:
        self.session.ensure_run()  # while runs exist the page shows one: the running, else the newest
        self.tick()
        self.poller.start()

    def deactivate(self) -> None:
        self.poller.stop()

    def tick(self) -> None:
        """One poll: apply new plot points and refresh what changed."""
        self.plots.apply(self.state.poll())
        has_run = self.state.run_id is not None
        self.no_run.visible, self.body.visible = not has_run, has_run
        if not has_run:
            return
        status = self.state.status
        title = f"## {escape_text(self.state.run_id)}"
        if self.title.object != title:
            self.title.object = title
        state = status.get(Status.STATE, "unknown")
        badge = f'<span class="gj-state gj-state-{escape_text(state)}"><b>{escape_text(state_words(state))}</b></span>'
        waiting = pending_words(self.state.pending)
        if waiting:
            badge += f' <span class="gj-training-pending">· {escape_text(waiting)}</span>'
        if self.badge.object != badge:
            self.badge.object = badge
        ended = state in (State.FAILED, State.ABORTED) and isinstance(status.get(Status.ERROR), str)
        error = escape_text(end_message_words(status[Status.ERROR])) if ended else ""
        self.error.visible = bool(error)
        if error and self.error.object != error:
            self.error.object = error
        # A stop someone asked for (Stop early, Abort) kept its checkpoint: a notice, not an error.
        alert = "warning" if state == State.ABORTED else "danger"
        if self.error.alert_type != alert:
            self.error.alert_type = alert
        self.plots.show_accelerator(bool(self.state.kpis.get("accelerator")))
        kpis = render_kpis(self.state.kpis, self.state.storage_bytes, self.state.storage_note)
        if self.kpis.object != kpis:
            self.kpis.object = kpis
            self._show_learning_rate()
        if self.state.log_version != self._log_seen:
            self._log_seen = self.state.log_version
            self._render_logs()
        if self.state.samples_version != self._samples_seen:
            self._samples_seen = self.state.samples_version
            self._render_samples()
        self._render_system()

    def _render_logs(self) -> None:
        for name, tail in self.state.logs.tails.items():
            self.logs[name].object = render_log(tail.lines)
        errors = self.state.logs.errors
        self.log_count.object = f"**{errors} error line{'s' * (errors != 1)}** in the logs" if errors else "No errors."

    def _render_samples(self) -> None:
        rows = list(self.state.samples.rows.values())
        if not rows:
            self.samples.object = "<p>No samples yet (the run writes them every eval.sample_every_steps).</p>"
            return
        cells = "".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                escape_text(r.prompt),
                escape_text(r.base) if r.base is not None else "<i>-</i>",
                escape_text(r.tuned or "-") + (f"<br><small>step {r.tuned_step}</small>" if r.tuned_step else ""),
            )
            for r in rows
        )
        self.samples.object = (
            '<table class="gj-samples"><tr><th>Prompt</th><th>Base model</th><th>Fine-tuned (latest)</th></tr>'
            f"{cells}</table>"
        )

    def _render_system(self) -> None:
        usage = self.state.system
        sample = usage.latest
        if usage.error and not sample:
            text = usage.error
        elif not sample:
            text = "Sampling…"
        else:
            parts = [
                f"CPU {sample.get('cpu_percent', 0):.0f}%",
                f"RAM {sample.get('ram_used_gb', 0):.1f}/{sample.get('ram_total_gb', 0):.1f} GB",
                f"disk {sample.get('disk_used_gb') or 0:.0f}/{sample.get('disk_total_gb') or 0:.0f} GB",
            ]
            for acc in sample.get("accelerators") or []:
                used, total, busy = (
                    acc.get("memory_used_gb"),
                    acc.get("memory_total_gb"),
                    acc.get("utilization_percent"),
                )
                memory = f"{used:.1f}/{total:.1f} GB" if used is not None and total else "memory n/a"
                parts.append(f"{acc.get('name', 'accelerator')} #{acc.get('index', 0)}: {memory}" + (
                    f", {busy:.0f}% busy" if busy is not None else ""
                ))  # fmt: skip
            text = " · ".join(parts)
        text = escape_text(text)
        if self.system_text.object != text:
            self.system_text.object = text

    # -- controls -------------------------------------------------------------------------
    def _apply_actions(self, _event=None) -> None:
        for key, button in self.buttons.items():
            button.visible = self.state.actions.get(key, False)
        self.lr_row.visible = self.state.actions.get("set_lr", False)
        self.next_row.visible = self.state.actions.get("next", False)
        self._show_learning_rate()

    def _show_learning_rate(self) -> None:
        """The input's placeholder follows the run's peak learning rate (it changes when someone sets it)."""
        peak = self.state.kpis.get("peak_learning_rate")
        placeholder = f"now {peak:.2e}" if peak is not None else "e.g. 1e-4"
        if self.lr_input.placeholder != placeholder:
            self.lr_input.placeholder = placeholder

    def _act(self, method: str) -> None:
        getattr(self.state, method)()
        self.tick()

    def _set_lr(self) -> None:
        if self.state.set_learning_rate(self.lr_input.value):
            self.lr_input.value = ""

    def __panel__(self):
        return self.layout
