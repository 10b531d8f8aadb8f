"""The Export page: export a checkpoint, then download the zip and see the files and the run's config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import panel as pn

from ui.state.export import ExportState
from ui.views.checkpoint_picker import Poller, picker_row

POLL_MS = 500


class ExportPage(pn.viewable.Viewer):
    def __init__(self, session, state: ExportState | None = None, **params):
        super().__init__(**params)
        self.session = session
        self.state = state or ExportState(session)
        s = self.state
        self.poller = Poller(s.poll, POLL_MS, session, "Export")
        merged = pn.widgets.Checkbox.from_param(
            s.param.merged, name="Merged Keras preset (full model)", css_classes=["gj-export-merged"]
        )
        self.export_button = pn.widgets.Button(label="Export", color="primary", css_classes=["gj-export-run"])
        self.export_button.on_click(lambda _event: self._export())
        self.spinner = pn.indicators.LoadingSpinner(value=False, visible=False, width=28, height=28, align="center")
        self.progress = pn.pane.Markdown(s.param.progress, css_classes=["gj-export-progress"])
        self.error = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["gj-export-error"])
        self.exports = pn.widgets.Select(label="Exports", options={}, width=320, css_classes=["gj-export-list"])
        self.exports.param.watch(lambda event: event.new and s.show(event.new), "value")
        self.download = pn.widgets.FileDownload(
            file=None, filename="export.zip", color="success", visible=False, css_classes=["gj-export-download"]
        )
        self.files = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, width=520, css_classes=["gj-export-files"]
        )
        self.config = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["gj-export-config"])
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

    def _export(self) -> None:
        if self.state.run_export():
            self.poller.start()

    def _render(self, _event=None) -> None:
        s = self.state
        self.export_button.disabled = s.running
        self.spinner.value = self.spinner.visible = s.running
        self.error.object, self.error.visible = s.error, bool(s.error)
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
        self.config.object = f"```yaml\n{s.config_text()}\n```"

    def activate(self) -> None:
        self.state.picker.refresh()
        self.poller.start()

    def deactivate(self) -> None:
        if not self.state.running:
            self.poller.stop()

    def __panel__(self):
        return self.layout
