"""The Export page: export a checkpoint, then download links (plain HTTP), the files, README and config.

The links point at the server's download route (ui/download_route.py): the browser saves the file
itself, streamed from disk, where a FileDownload widget sent it base64 through the websocket and
an 800 MB merged model crashed the tab.
"""

from __future__ import annotations

import html
import json

import pandas as pd
import panel as pn

from gemma_jax.export.formats import FORMATS
from ui.state.export import ExportState
from ui.views.checkpoint_picker import CheckpointPage, picker_row
from ui.views.safe_text import code_text, escape_text, text_table

POLL_MS = 500
FORMAT_OPTIONS = {f.label: name for name, f in FORMATS.items()}
LINKS_CSS = """
.gj-export-link { display: block; margin: 4px 0; }
.gj-export-link a { font-weight: 600; }
.gj-export-where { font-size: 0.85em; opacity: .8; margin-bottom: 6px; }
"""


def render_links(links: list[dict]) -> str:
    """One `<a href download>` per export, with where it is on the server; every text escaped."""
    items = []
    for link in links:
        name = escape_text(link["name"])
        items.append(
            f'<div class="gj-export-link"><a class="gj-export-download gj-export-download-{html.escape(link["kind"])}" '
            f'href="{html.escape(link["url"], quote=True)}" download="{html.escape(link["name"], quote=True)}">'
            f"Download the {escape_text(link['label'])}: {name}</a> ({escape_text(link['size'])})"
            + (f' <span class="gj-export-quality">{escape_text(link["quality"])}</span>' if link.get("quality") else "")
            + "</div>"
            f'<div class="gj-export-where">On the server: {code_text(link["server_path"])}</div>'
        )
    return "".join(items)


def render_serving(specs: list[dict]) -> str:
    """Per format: the server command, a curl to try it, and the Vertex AI model-upload spec; all escaped."""
    parts = []
    for spec in specs:
        vertex = json.dumps(spec.get("vertex", {}), indent=2)
        parts.append(
            f"<h4>{escape_text(spec['label'])}</h4>"
            f"<div>Serve it (from the export folder):</div>{_command(spec.get('command', ''))}"
            f"<div>Try it:</div>{_command(spec.get('curl', ''))}"
            f"<details><summary>Vertex AI model-upload spec</summary><pre>{html.escape(vertex)}</pre></details>"
        )
    return "".join(parts)


def _command(text: str) -> str:
    """A command line to copy: wrapped on screen (a long curl stays visible), one line when copied."""
    return f"<pre style='white-space: pre-wrap; overflow-wrap: anywhere'>{html.escape(str(text))}</pre>"


def render_not_offered(reasons: dict[str, str]) -> str:
    return "".join(f"<div class='gj-export-not-offered'>{escape_text(text)}</div>" for text in reasons.values())


class ExportPage(CheckpointPage):
    def __init__(self, session, state: ExportState | None = None, **params):
        super().__init__(session, state or ExportState(session), "Export", POLL_MS, **params)
        s = self.state
        # Check boxes: several formats can be exported at once (a button group read as a single choice).
        kind = pn.Column(
            pn.pane.Markdown("**Formats** (one or more)", margin=(0, 10)),
            pn.widgets.CheckBoxGroup.from_param(
                s.param.formats,
                name="",
                options=FORMAT_OPTIONS,
                inline=False,
                width=300,
                css_classes=["gj-export-kind"],
            ),
        )
        self.not_offered = pn.pane.HTML(render_not_offered(s.not_offered), css_classes=["gj-export-not-offered"])
        self.serving = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["gj-export-serving"])
        self.serving_heading = pn.pane.Markdown("### Serve it")
        self.export_button = pn.widgets.Button(label="Export", color="primary", css_classes=["gj-export-run"])
        self.export_button.on_click(lambda _event: self._follow(s.run_export()))
        self._job_widgets("export")
        self.progress_bar = pn.indicators.Progress(
            value=-1, max=100, width=220, visible=False, align="center", css_classes=["gj-export-progress-bar"]
        )
        self.exports = pn.widgets.Select(
            label="Exports", options={}, sizing_mode="stretch_width", max_width=720, css_classes=["gj-export-list"]
        )
        self.exports.param.watch(lambda event: event.new is not None and s.show_step(event.new), "value")
        self.links = pn.pane.HTML(
            "", stylesheets=[LINKS_CSS], sizing_mode="stretch_width", css_classes=["gj-export-downloads"]
        )
        self.files = text_table(
            pd.DataFrame(), disabled=True, show_index=False, width=620, css_classes=["gj-export-files"]
        )
        # editors' text, not Markdown: a run name with a code fence or HTML shows as typed
        self.readme = pn.widgets.CodeEditor(
            language="markdown",
            readonly=True,
            height=360,
            sizing_mode="stretch_width",
            css_classes=["gj-export-readme"],
        )
        self.config = pn.widgets.CodeEditor(
            language="yaml", readonly=True, height=360, sizing_mode="stretch_width", css_classes=["gj-export-config"]
        )
        self.readme_heading = pn.pane.Markdown("### How to use it")  # its README; "README.md" would be linkified
        self.empty = pn.pane.Markdown("Nothing exported from this run yet: pick a checkpoint, then Export.")
        s.param.watch(self._render, ["step_shown", "exports", "running", "error"])
        s.param.watch(self._render_fraction, "fraction")
        self._render()
        self.layout = pn.Column(
            "## Export",
            picker_row(s.picker, "export", on_refresh=self._render),
            kind,
            self.export_button,
            self.not_offered,
            pn.Row(self.spinner, self.progress_bar, self.progress),
            self.error,
            self.exports,
            self.empty,
            self.links,
            self.files,
            self.serving_heading,
            self.serving,
            self.readme_heading,
            self.readme,
            pn.pane.Markdown("### The run's config"),
            self.config,
            sizing_mode="stretch_width",
        )

    def _render_fraction(self, _event=None) -> None:
        fraction = self.state.fraction
        self.progress_bar.visible = self.state.running and fraction is not None
        self.progress_bar.value = -1 if fraction is None else int(100 * fraction)

    def _render(self, _event=None) -> None:
        s = self.state
        self._render_job(self.export_button)
        self._render_fraction()
        self.exports.options = s.export_options
        self.exports.visible = bool(s.exports)
        if s.step_shown is not None and self.exports.value != s.step_shown:
            self.exports.value = s.step_shown
        self.empty.visible = not s.exports
        self.links.object = render_links(s.downloads())
        self.links.visible = bool(s.shown)
        self.files.value = pd.DataFrame(s.file_rows())
        self.files.visible = bool(s.shown)
        self.serving.object = render_serving(s.serving())
        self.serving.visible = self.serving_heading.visible = bool(self.serving.object)
        self.readme.value = s.readme_text()
        self.readme.visible = self.readme_heading.visible = bool(self.readme.value)
        self.config.value = s.config_text()
