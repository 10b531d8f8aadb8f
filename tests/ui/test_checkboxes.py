"""Every checkbox in the dashboard toggles on a click on its words: none is Panel's Checkbox, whose label
is drawn outside the box's <label> element."""

from __future__ import annotations

import re
from pathlib import Path

import param

from ui.views.checkbox import checkbox_for

VIEWS = Path(__file__).resolve().parents[2] / "ui" / "views"


def test_no_page_uses_panels_checkbox():
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(VIEWS.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bwidgets\.Checkbox\b|\bCheckbox\(", line)
    ]
    assert offenders == []


class _Owner(param.Parameterized):
    on = param.Boolean(default=True)


def test_checkbox_for_keeps_box_and_parameter_in_step():
    owner = _Owner()
    box = checkbox_for(owner, "on", "Switch it", ["gj-x"])
    assert box.options == ["Switch it"] and box.value == ["Switch it"] and box.css_classes == ["gj-x"]
    box.value = []
    assert owner.on is False
    owner.on = True
    assert box.value == ["Switch it"]
