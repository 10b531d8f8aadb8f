"""The Runs page: every run of the workspace in a table, refreshed every ~2 s, with open/resume/clone/delete.

A double-click on a row opens the run on Training."""

from __future__ import annotations

import pandas as pd
import panel as pn

from ui.state.runs import COLUMNS, RunsState
from ui.state.vertex_jobs import VertexJobsState
from ui.views.poller import Poller
from ui.views.safe_text import code_text, escape_text, text_table
from ui.views.storage import StorageCard

REFRESH_MS = 2000


class RunsPage(pn.viewable.Viewer):
    """A table of runs; select one, then act on it. Delete asks for confirmation and is off for active runs."""

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self.state = RunsState(session)
        self.poller = Poller(self.refresh, REFRESH_MS, session, "Runs")
        self.table = text_table(
            pd.DataFrame(columns=list(COLUMNS)),
            disabled=True,
            selectable=1,
            show_index=False,
            sizing_mode="stretch_width",
            layout="fit_data_stretch",
            pagination="local",
            page_size=25,
            css_classes=["gj-runs-table"],
        )
        self.table.param.watch(self._on_select, "selection")
        self.table.on_click(self._on_click)
        self.queue = pn.pane.Markdown("", css_classes=["gj-runs-queue"], margin=(0, 10))
        terminal = (  # a logged-in user is not shown the server's folders
            ""
            if session.workspace.confined
            else f", or with {code_text(f'gemma-jax train --set runs_dir={session.workspace.runs_dir}')}"
        )
        self.hint = pn.pane.Markdown(
            "Double-click a run to open it.", css_classes=["gj-runs-hint"], margin=(0, 10), styles={"opacity": "0.7"}
        )
        self.empty = pn.pane.Alert(
            f"No runs yet. Start one on the **New run** page{terminal}.",
            alert_type="info",
            visible=False,
            css_classes=["gj-runs-empty"],
        )
        self.buttons = {
            "open": self._button("Open", "primary", "gj-runs-open", self.state.open_selected),
            "resume": self._button("Resume", "success", "gj-runs-resume", self.state.resume_selected),
            "clone": self._button("Clone as new", "default", "gj-runs-clone", self.state.clone_selected),
            "delete": self._button("Delete…", "danger", "gj-runs-delete", self.state.request_delete),
        }
        new = self._button("New run", "primary", "gj-runs-new", lambda: setattr(session, "page", "New run"))
        new.disabled = False
        self.confirm_text = pn.pane.Markdown("", css_classes=["gj-runs-confirm-text"])
        self.confirm_row = pn.Row(
            self.confirm_text,
            self._button("Delete permanently", "danger", "gj-runs-confirm-delete", self.state.confirm),
            self._button("Cancel", "default", "gj-runs-cancel-delete", self.state.cancel_delete),
            visible=False,
            css_classes=["gj-runs-confirm"],
        )
        for button in self.confirm_row[1:]:
            button.disabled = False
        self.vertex = VertexJobsState(session.workspace.runs_dir)
        self.vertex_pane = pn.pane.HTML("", visible=False, css_classes=["gj-vertex-jobs"], sizing_mode="stretch_width")
        self.vertex.param.watch(self._apply_vertex, "rows")
        self.storage = StorageCard(session)
        self.state.param.watch(self._apply_rows, "rows")
        self.state.param.watch(self._apply_actions, "actions")
        self.state.param.watch(self._apply_confirm, "confirm_delete")
        self.layout = pn.Column(
            pn.FlexBox(pn.pane.Markdown("## Runs", margin=(0, 10)), self.queue, new, align_items="center"),
            self.empty,
            self.table,
            pn.FlexBox(*self.buttons.values(), self.hint, align_items="center"),
            self.confirm_row,
            self.vertex_pane,
            self.storage,
            sizing_mode="stretch_width",
        )
        self.refresh()
        self._apply_rows()
        self._apply_actions()

    @staticmethod
    def _button(name: str, kind: str, css: str, action) -> pn.widgets.Button:
        button = pn.widgets.Button(label=name, color=kind, css_classes=[css], disabled=True, margin=(5, 5))
        button.on_click(lambda _event: action())
        return button

    def refresh(self) -> None:
        self.state.refresh()
        self.vertex.refresh()
        self.storage.poll()
        self.queue.object = f"**Jobs:** {escape_text(self.state.queue_text)}"

    def activate(self) -> None:
        """Refresh now and every REFRESH_MS while the page is shown."""
        self.refresh()
        self.poller.start()

    def deactivate(self) -> None:
        self.poller.stop()

    def _apply_rows(self, _event=None) -> None:
        rows = self.state.rows
        self.empty.visible = not rows
        self.hint.visible = bool(rows)
        self.table.value = pd.DataFrame(rows, columns=list(COLUMNS))
        ids = [row["run"] for row in rows]
        selection = [ids.index(self.state.selected)] if self.state.selected in ids else []
        if self.table.selection != selection:
            self.table.selection = selection

    def _apply_vertex(self, _event=None) -> None:
        """Vertex AI jobs of this workspace (gemma-jax vertex submit), shown once there is one."""
        rows = self.vertex.rows
        self.vertex_pane.visible = bool(rows)
        cells = "".join(
            f"<tr><td>{escape_text(r['job'])}</td><td>{escape_text(r['machine'])}</td>"
            f"<td>{escape_text(r['state'])}</td><td>{code_text(r['checkpoints'])}</td></tr>"
            for r in rows
        )
        self.vertex_pane.object = (
            "<h3>Vertex AI jobs</h3><table><tr><th>job</th><th>machine</th><th>state</th><th>checkpoints</th></tr>"
            f"{cells}</table><p>Continue one anywhere with <code>gemma-jax train --resume</code> and its checkpoints.</p>"
        )

    def _on_select(self, event) -> None:
        rows = self.state.rows
        index = event.new[0] if event.new else None
        self.state.select(rows[index]["run"] if index is not None and index < len(rows) else None)

    def _on_click(self, event) -> None:
        """Tabulator reports single clicks only; RunsState.click makes two quick ones on a row an "open"."""
        rows, index = self.state.rows, event.row
        self.state.click(rows[index]["run"] if isinstance(index, int) and 0 <= index < len(rows) else None)

    def _apply_actions(self, _event=None) -> None:
        for name, button in self.buttons.items():
            button.disabled = not self.state.actions.get(name, False)

    def _apply_confirm(self, _event=None) -> None:
        run_id = self.state.confirm_delete
        self.confirm_row.visible = run_id is not None
        if run_id is not None:
            self.confirm_text.object = (
                f"Delete **{escape_text(run_id)}** with its checkpoints, logs and exports? This cannot be undone."
            )

    def __panel__(self):
        return self.layout
