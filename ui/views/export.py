"""The Export page: export a checkpoint, then download the zip and see the files and the run's config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import panel as pn

from ui.state.export import ExportState
from ui.views.checkpoint_picker import CheckpointPage, picker_row
from ui.views.safe_text import text_table

POLL_MS = 500


class ExportPage(CheckpointPage):
    def __init__(self, session, state: ExportState | None = None, **params):
        super().__init__(session, state or ExportState(session), "Export", POLL_MS, **params)
        s = self.state
        merged = pn.widgets.Checkbox.from_param(
            s.param.merged, name="Merged Keras preset (full model)", css_classes=["gj-export-merged"]
        )
        self.export_button = pn.widgets.Button(label="Export", color="primary", css_classes=["gj-export-run"])
        self.export_button.on_click(lambda _event: self._follow(s.run_export()))
        self._job_widgets("export")
        self.exports = pn.widgets.Select(label="Exports", options={}, width=320, css_classes=["gj-export-list"])
        self.exports.param.watch(lambda event: event.new and s.show(event.new), "value")
        self.download = pn.widgets.FileDownload(
            file=None, filename="export.zip", color="success", visible=False, css_classes=["gj-export-download"]
        )
        self.files = text_table(
            pd.DataFrame(), disabled=True, show_index=False, width=520, css_classes=["gj-export-files"]
        )
        # an editor's text, not Markdown: a run name with a code fence or HTML shows as typed
        self.config = pn.widgets.CodeEditor(
            language="yaml", readonly=True, height=360, sizing_mode="stretch_width", css_classes=["gj-export-config"]
        )
        self.empty = pn.pane.Markdown("Nothing exported from this run yet: pick a checkpoint, then Export.")
        s.param.watch(self._render, ["export", "exports", "running", "error"])
        self._render()
        self.layout = pn.Column(
            "## Export",
            picker_row(s.picker, "export", on_refresh=self._render),
            pn.Row(merged, self.export_button),
            pn.Row(self.spinner, self.progress),
            self.error,
            self.exports,
            self.empty,
            self.download,
            self.files,
            pn.pane.Markdown("### The run's config"),
            self.config,
            sizing_mode="stretch_width",
        )

    def _render(self, _event=None) -> None:
        s = self.state
        self._render_job(self.export_button)
        self.exports.options = s.export_options
        self.exports.visible = bool(s.exports)
        export = s.export
        if export and self.exports.value != export["path"]:
            self.exports.value = export["path"]
        self.empty.visible = not export
        archive = export and export.get("zip")
        self.download.visible = bool(archive)
        if archive:
            self.download.file = archive
            self.download.filename = Path(archive).name
            self.download.label = f"Download {Path(archive).name}"
        self.files.value = pd.DataFrame(s.file_rows())
        self.files.visible = bool(export)
        self.config.value = s.config_text()
