"""The Data step's page: upload or source, column mapping, the report with bad rows, and the previews."""

from __future__ import annotations

import threading

import pandas as pd
import panel as pn
from bokeh.models import Span
from bokeh.plotting import figure

from ui.state.data_check import DataCheck
from ui.state.new_run import NewRunState
from ui.state.wizard_data import ADVANCED_FIELDS, BASIC_FIELDS, COLUMN_ROLES
from ui.views.safe_text import escape_text, text_table
from ui.views.uploads import StreamingFileDropper
from ui.views.wizard_fields import field_widgets
from ui.workspace import UploadWriter

_NONE = "(none)"
BAD_ROW_STYLE = "background-color: #fde2e1"
WARNING_ROW_STYLE = "background-color: #fff4d6"


def _style_row(row: pd.Series) -> list[str]:
    problem = str(row.get("problem", ""))
    style = BAD_ROW_STYLE if problem.startswith("error") or "; error" in problem else WARNING_ROW_STYLE
    return [style if problem else "" for _ in row]


def problems_html(check: DataCheck) -> str:
    """Every finding, one line each with its line/row number; errors carry the bad-row class."""
    items = []
    for problem in check.problem_lines():
        css = "gj-newrun-bad-row" if problem["severity"] == "error" else "gj-newrun-warning-row"
        where = escape_text(problem["where"] or "whole file")
        line = escape_text(problem["line"] or "")
        items.append(
            f'<li class="{css}" data-line="{line}"><b>{escape_text(problem["severity"])}</b> '
            f"{where}: {escape_text(problem['message'])}</li>"
        )
    if not items:
        return "<p>No problems found.</p>"
    return "<ul>" + "".join(items) + "</ul>"


def tokens_html(preview: dict) -> str:
    """The example's tokens; the ones the model is graded on are highlighted."""
    spans = []
    for piece, loss, special in zip(preview["pieces"], preview["loss"], preview["special"]):
        css = "gj-newrun-loss-token" if loss else "gj-newrun-token"
        style = "background:#d7f5dd;" if loss else "background:#eee;"
        style += "font-weight:bold;" if special else ""
        spans.append(f'<span class="{css}" style="{style}margin:1px;padding:0 2px">{escape_text(piece)}</span>')
    head = (
        f"<p>{preview['num_tokens']} tokens, {preview['loss_tokens']} graded (green: the model learns to write "
        "these)</p>"
    )
    return head + '<div style="white-space:pre-wrap;font-family:monospace">' + "".join(spans) + "</div>"


def length_plot(lengths: dict):
    counts, edges = lengths["histogram"]["counts"], lengths["histogram"]["bin_edges"]
    right = max(edges[-1] if edges else 0, lengths["sequence_length"]) * 1.05  # keep the red line in view
    plot = figure(height=220, width=520, title="Tokens per example", toolbar_location=None, x_range=(0, right))
    plot.quad(top=counts, bottom=0, left=edges[:-1], right=edges[1:], fill_alpha=0.6)
    plot.add_layout(Span(location=lengths["sequence_length"], dimension="height", line_color="red", line_dash="dashed"))
    plot.xaxis.axis_label = "tokens (red line: sequence length)"
    return pn.pane.Bokeh(plot, css_classes=["gj-newrun-lengths"])


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
        self.columns = {role: pn.widgets.Select(label=role.capitalize(), width=160) for role in COLUMN_ROLES}
        for role, widget in self.columns.items():
            widget.css_classes = [f"gj-newrun-column-{role}"]
            widget.param.watch(lambda event, role=role: self._map(role, event.new), "value")
        self.use.on_click(lambda _: self._use_source())
        self.check.on_click(lambda _: self.start_check())
        self.basic = pn.Row(*field_widgets(state, BASIC_FIELDS))
        self.advanced = pn.Card(
            pn.FlexBox(*field_widgets(state, ADVANCED_FIELDS)),
            title="Advanced: cleaning, augmentation, split, reading",
            collapsed=True,
            css_classes=["gj-newrun-data-advanced"],
        )
        step.param.watch(lambda _: self._fill_columns(), "result")
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
        finally:
            self._filling = False

    def start_check(self) -> None:
        check_in_background(self.state)

    def _report(self, result, checking, error):
        if error:
            return pn.pane.Alert(escape_text(error), alert_type="danger", css_classes=["gj-newrun-data-error"])
        if checking:
            return pn.Row(pn.indicators.LoadingSpinner(value=True, size=24), "checking…", css_classes=["gj-checking"])
        if result is None:
            return pn.pane.Markdown("Press **Check data** to read the source and see its report.")
        report = result.report
        status = "ready to train" if report.ok else f"{len(report.errors)} error(s) to fix"
        head = pn.pane.Markdown(
            f"**{escape_text(report.file)}**: {escape_text(report.format or '?')} file, shape "
            f"**{escape_text(report.shape or '?')}**, {report.records} record(s), {report.usable} usable, "
            f"{len(report.warnings)} warning(s): **{status}**."
        )
        parts = [head, pn.pane.HTML(problems_html(result), css_classes=["gj-newrun-report-problems"])]
        if result.rows:
            frame = pd.DataFrame(result.rows).fillna("")
            table = text_table(
                frame, height=300, disabled=True, show_index=False, pagination=None, css_classes=["gj-newrun-rows"]
            )
            table.style.apply(_style_row, axis=1)
            parts.append(table)
        if result.summary:
            split = result.summary["split"]["splits"]
            cleaning = result.summary["cleaning"]["changed"]
            augmented = result.summary["augmentation"]["total"]
            text = (
                "Split: "
                + ", ".join(f"{name} {entry['examples']}" for name, entry in split.items())
                + f". Cleaning changed {result.summary['cleaning']['changed_any']} example(s) "
                + (f"({', '.join(f'{k} {v}' for k, v in cleaning.items())})" if cleaning else "")
                + f"; augmentation adds {augmented} copie(s)."
            )
            parts.append(pn.pane.Markdown(escape_text(text), css_classes=["gj-newrun-split"]))
        if result.preview:
            parts.append(pn.pane.HTML(tokens_html(result.preview), css_classes=["gj-newrun-tokens"]))
        if result.lengths:
            parts.append(length_plot(result.lengths))
            suggested = result.lengths["suggested_sequence_length"]
            parts.append(pn.pane.Markdown(f"Suggested sequence length for this data: **{suggested}** tokens."))
        parts += [pn.pane.Markdown(f"*{escape_text(note)}*") for note in result.notes]
        return pn.Column(*parts)

    def __panel__(self):
        step = self.state.data
        report = pn.bind(self._report, step.param.result, step.param.checking, step.param.error)
        return pn.Column(
            "## 1. Data",
            pn.pane.Markdown("Drop a file (JSONL, CSV/TSV, text, Excel, Parquet), or type a source below."),
            self.upload,
            pn.Row(self.source, self.use),
            pn.pane.Markdown("**Columns** (which column of the file plays which part):"),
            pn.FlexBox(*self.columns.values()),
            self.basic,
            self.advanced,
            self.check,
            pn.Column(report, css_classes=["gj-newrun-report"]),
            css_classes=["gj-newrun-data"],
        )
