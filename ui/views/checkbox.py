"""Checkboxes whose words toggle them too, for every page.

Panel's Checkbox (Bokeh 3's) draws its label as a separate element beside the box, so a click on the
words does nothing. A one-option CheckBoxGroup wraps box and words in one <label>, which the browser
toggles on a click anywhere on it. Its value is [label] when ticked, [] when not.
"""

from __future__ import annotations

import panel as pn
import param


def labelled_checkbox(label: str, value: bool, css_classes: list[str]) -> pn.widgets.CheckBoxGroup:
    """A checkbox that a click on its label toggles too (value [label] ticked, [] not)."""
    return pn.widgets.CheckBoxGroup(
        options=[label], value=[label] if value else [], inline=True, css_classes=css_classes
    )


def checkbox_for(owner: param.Parameterized, name: str, label: str, css_classes: list[str]) -> pn.widgets.CheckBoxGroup:
    """A labelled checkbox kept in step with the Boolean parameter `owner.name`, both ways."""
    box = labelled_checkbox(label, bool(getattr(owner, name)), css_classes)

    def to_owner(event) -> None:
        ticked = bool(event.new)
        if getattr(owner, name) != ticked:
            setattr(owner, name, ticked)

    def to_box(event) -> None:
        shown = [label] if event.new else []
        if box.value != shown:
            box.value = shown

    box.param.watch(to_owner, "value")
    owner.param.watch(to_box, name)
    return box
