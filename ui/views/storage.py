"""The Storage card of the Runs page: a button to measure, the totals, and a row per run and dataset."""

from __future__ import annotations

import pandas as pd
import panel as pn

from ui.state.storage import COLUMNS, StorageState
from ui.views.safe_text import escape_text, text_table


class StorageCard(pn.viewable.Viewer):
    """Measured on request (folders and buckets can take seconds), then shown until measured again."""

    def __init__(self, session, **params):
        super().__init__(**params)
        self.state = StorageState(session)
        self.button = pn.widgets.Button(label="Measure storage", css_classes=["gj-storage-measure"], margin=(5, 10))
        self.button.on_click(lambda _event: self.state.measure())
        self.summary = pn.pane.Markdown(
            "What each run and dataset takes, on this disk and on Cloud Storage (with a month's cost at list price).",
            css_classes=["gj-storage-summary"],
            margin=(0, 10),
        )
        self.table = text_table(
            pd.DataFrame(columns=list(COLUMNS)),
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            layout="fit_data_stretch",
            pagination="local",
            page_size=15,
            visible=False,
            css_classes=["gj-storage-table"],
        )
        self.state.param.watch(self._apply, ["rows", "summary", "measuring"])
        self.layout = pn.Column(
            pn.FlexBox(pn.pane.Markdown("### Storage", margin=(0, 10)), self.button, align_items="center"),
            self.summary,
            self.table,
            sizing_mode="stretch_width",
            css_classes=["gj-storage"],
        )

    def poll(self) -> None:
        """Called by the page's refresh on the server thread."""
        self.state.poll()

    def _apply(self, _event=None) -> None:
        self.button.disabled = self.state.measuring
        self.button.label = "Measuring…" if self.state.measuring else "Measure storage"
        if self.state.summary:
            self.summary.object = f"**{escape_text(self.state.summary)}**"
        self.table.visible = bool(self.state.rows)
        self.table.value = pd.DataFrame(self.state.rows, columns=list(COLUMNS))

    def __panel__(self):
        return self.layout
