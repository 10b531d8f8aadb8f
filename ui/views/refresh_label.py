"""The checkpoint picker's refresh button, labelled: a bare "↻" did not say what it does.

Belongs in checkpoint_picker.picker_row (which the Export page shares); kept apart until it moves there.
"""

from __future__ import annotations

import panel as pn

REFRESH_LABEL = "↻ Refresh"
REFRESH_TOOLTIP = "Look again for new runs and checkpoints"


def labelled_refresh(row: pn.Row) -> pn.Row:
    """`row` (from picker_row) with its refresh button, the last item, labelled and given a tooltip."""
    refresh = row[-1]
    refresh.name, refresh.width, refresh.description = REFRESH_LABEL, 100, REFRESH_TOOLTIP
    return row
