"""The Data step's page: upload or source, column mapping, the report with bad rows, and the previews."""

from __future__ import annotations

import threading

import panel as pn

from ui.state.new_run import NewRunState
from ui.state.wizard_columns import COLUMN_ROLES, ROLE_LABELS, suggestion_words
from ui.state.wizard_data import ADVANCED_FIELDS, BASIC_FIELDS
from ui.views.checkbox import labelled_checkbox
from ui.views.safe_text import escape_text
from ui.views.uploads import StreamingFileDropper
from ui.views.wizard_data_report import report_view
from ui.views.wizard_fields import FieldCells
from ui.workspace import UploadWriter

_NONE = "(none)"
SKIP_LABEL = "Skip invalid rows (train on the valid ones)"
SKIP_HELP = (
    "Rows with errors are left out: training uses a copy of the file with the valid rows only, kept in your "
    "uploads (the run's config names it). The report still lists the skipped rows."
)


def check_in_background(state: NewRunState) -> None:
    """Check the current data off the server thread (the page shows 'checking…'); a result for a config
    that changed meanwhile is dropped and the check runs again."""
    step = state.data
    if step.checking:
        return
    step.checking = True
    snapshot, choices = state.config, step.choices
    doc = pn.state.curdoc if pn.state.curdoc and pn.state.curdoc.session_context else None

    def work() -> None:
        try:
            result, error = step.compute(snapshot), ""
        except Exception as err:  # noqa: BLE001  (any failure to read the source becomes a message)
            result, error = None, f"could not check {snapshot.data.train_path}: {err}"

        def done() -> None:
            if step.choices != choices and state.config.data == snapshot.data:
                # a source was chosen meanwhile and refused (the config is unchanged): its message stays
                step.checking = False
                if not step.error:
                    check_in_background(state)
                return
            stale = state.config.data != snapshot.data
            step.apply(None if stale else result, "" if stale else error)
            if stale:
                check_in_background(state)

        if doc is not None:
            doc.add_next_tick_callback(done)
        else:
            done()

    threading.Thread(target=work, name="gj-data-check", daemon=True).start()


class DataView(pn.viewable.Viewer):
    """Step 1. The check runs in a worker thread; its result is applied on the server's event loop."""

    def __init__(self, state: NewRunState, **params):
        super().__init__(**params)
        self.state = state
        self._filling = False  # columns being refilled from the report: not a user's mapping
        step = state.data
        workspace = state.session.workspace
        self.upload = StreamingFileDropper(
            workspace.open_upload,
            self._uploaded,
            multiple=False,
            max_file_size=f"{workspace.max_upload_mb}MB",  # the browser refuses larger files before sending
            css_classes=["gj-newrun-upload"],
        )
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(lambda _context: self.upload.discard())
        self.source = pn.widgets.TextInput(
            label="Or type a data source",
            value=state.get("data.train_path"),
            placeholder="example, /path/on/server.jsonl, hf:NAME, tfds:NAME, gs://bucket/file",
            description="A file on the server, a Hugging Face (hf:) or TensorFlow (tfds:) dataset, a gs:// file, "
            "or 'example' for the packaged pirate Q&A set.",
            css_classes=["gj-newrun-source"],
            width=420,
        )
        self.use = pn.widgets.Button(label="Use this source", css_classes=["gj-newrun-use-source"])
        self.check = pn.widgets.Button(label="Check data", color="primary", css_classes=["gj-newrun-check"])
        self.columns = {role: pn.widgets.Select(label=ROLE_LABELS[role], width=200) for role in COLUMN_ROLES}
        for role, widget in self.columns.items():
            widget.css_classes = [f"gj-newrun-column-{role}"]
            widget.param.watch(lambda event, role=role: self._map(role, event.new), "value")
        self.skip = labelled_checkbox(SKIP_LABEL, step.skip_invalid, ["gj-newrun-skip"])
        self.skip.param.watch(lambda event: self._skip(bool(event.new)), "value")
        self.matched = pn.pane.HTML("", visible=False, css_classes=["gj-newrun-matched"], sizing_mode="stretch_width")
        self.advice = pn.pane.Alert("", alert_type="warning", visible=False, css_classes=["gj-newrun-column-advice"])
        self.use.on_click(lambda _: self._use_source())
        self.check.on_click(lambda _: self.start_check())
        self.fields = FieldCells(state, (*BASIC_FIELDS, *ADVANCED_FIELDS))
        self.basic = pn.FlexBox(*(self.fields.cells[path] for path in BASIC_FIELDS))
        self.advanced = pn.Card(
            pn.FlexBox(*(self.fields.cells[path] for path in ADVANCED_FIELDS)),
            title="Advanced: cleaning, augmentation, split, reading",
            collapsed=True,
            css_classes=["gj-newrun-data-advanced"],
        )
        step.param.watch(lambda _: self._fill_columns(), ["result", "matched", "checking"])
        step.param.watch(lambda event: setattr(self.skip, "value", [SKIP_LABEL] if event.new else []), "skip_invalid")
        state.param.watch(lambda _: self._fill_columns(), "config")
        self._fill_columns()

    def _uploaded(self, name: str, upload: UploadWriter) -> None:
        """The file just dropped (complete or refused) becomes the training data."""
        if self.state.data.upload(name, upload) is not None:
            self.source.value = self.state.get("data.train_path")
            self.start_check()

    def _use_source(self) -> None:
        if self.state.data.use_source(self.source.value):
            self.start_check()

    def _skip(self, skip: bool) -> None:
        if skip != self.state.data.skip_invalid:
            self.state.data.set_skip_invalid(skip)
            self.start_check()

    def _map(self, role: str, column: str) -> None:
        if column is None or self._filling:
            return
        self.state.data.map_column(role, None if column == _NONE else column)
        self.start_check()

    def _fill_columns(self) -> None:
        self._filling = True
        try:
            found, shown = self.state.data.columns, self.state.data.roles()
            for role, widget in self.columns.items():
                widget.visible = role in shown
                current = self.state.get(COLUMN_ROLES[role])
                options = [_NONE, *found] + ([current] if current and current not in found else [])
                widget.options = options
                widget.value = current if current else _NONE
            step = self.state.data
            matched = step.matched
            self.matched.object = f"<p>{escape_text(suggestion_words(matched))}</p>" if matched else ""
            self.matched.visible = matched is not None
            advice = step.advice()
            self.advice.object = escape_text(advice)
            self.advice.visible = bool(advice)
        finally:
            self._filling = False

    def start_check(self) -> None:
        check_in_background(self.state)

    def _report(self, result, checking, error):
        return report_view(self.state.data, result, checking, error)

    def __panel__(self):
        step = self.state.data
        report = pn.bind(self._report, step.param.result, step.param.checking, step.param.error)
        return pn.Column(
            "## 1. Data",
            pn.pane.Markdown("Drop a file (JSONL, CSV/TSV, text, Excel, Parquet), or type a source below."),
            self.upload,
            pn.Row(self.source, self.use),
            pn.pane.Markdown("**Columns** (which column of the file plays which part):"),
            self.matched,
            pn.FlexBox(*self.columns.values()),
            self.advice,
            self.basic,
            self.skip,
            pn.pane.Markdown(
                escape_text(SKIP_HELP), styles={"color": "#555", "font-size": "0.9em"}, margin=(0, 10, 0, 34)
            ),
            self.advanced,
            self.check,
            pn.Column(report, css_classes=["gj-newrun-report"]),
            css_classes=["gj-newrun-data"],
        )
