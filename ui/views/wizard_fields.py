"""One widget per config field, kept in step with the wizard's JobConfig both ways.

The widget kind follows the field's type (choices become selects, booleans checkboxes,
optional numbers inputs that may be empty), and its tooltip is the plain-words help.
"""

from __future__ import annotations

import panel as pn

from gemma_jax.config import CHOICES
from gemma_jax.config.convert import is_optional, is_str_tuple, strip_optional
from gemma_jax.config.fields import field_specs
from ui.state.config_fields import field_type, number_text, parse_number
from ui.state.help_text import help_for, label_for
from ui.state.new_run import NewRunState
from ui.views.safe_text import escape_text

# List fields with allowed values (LoRA targets, augmentation methods): a multi-select each.
MULTI_CHOICES = {path: spec.choices for path, spec in field_specs().items() if spec.is_list and spec.choices}
_NONE = "(none)"
# An optional yes/no (model.remat): empty means the engine decides. Words as values: a Select shows no
# option at all for a None value.
_TRISTATE = {"auto": None, "yes": True, "no": False}
_TRISTATE_WORD = {None: "auto", True: "yes", False: "no"}


def _css(path: str) -> list[str]:
    return ["gj-newrun-field", "gj-newrun-field-" + path.replace(".", "-").replace("_", "-")]


def _make(path: str, value):
    tp = field_type(path)
    base, optional = strip_optional(tp), is_optional(tp)
    common = {"label": label_for(path), "description": help_for(path) or None, "css_classes": _css(path), "width": 260}
    if path in MULTI_CHOICES:
        return pn.widgets.MultiChoice(options=list(MULTI_CHOICES[path]), value=list(value or ()), **common)
    if path in CHOICES:
        options = ([_NONE] if optional else []) + list(CHOICES[path])
        return pn.widgets.Select(options=options, value=_NONE if value is None else value, **common)
    if base is bool:
        # a yes/no select rather than a checkbox: Panel's checkbox cannot carry the tooltip; "auto" for an
        # optional one (empty: the engine decides, e.g. model.remat from the memory estimate)
        if optional:
            return pn.widgets.Select(options=list(_TRISTATE), value=_TRISTATE_WORD[value], **common)
        return pn.widgets.Select(options={"yes": True, "no": False}, value=bool(value), **common)
    if base is int:
        return pn.widgets.IntInput(value=value, **common)
    if base is float:  # text, not FloatInput: its fixed-decimals display showed 1e-7 as 0
        return pn.widgets.TextInput(value=number_text(value), **common)
    if is_str_tuple(base):
        return pn.widgets.TextInput(value=", ".join(value or ()), **common)
    return pn.widgets.TextInput(value=value or "", **common)


def _from_widget(path: str, value):
    """The widget's value as the config field's type ('' and (none) are null for optional fields)."""
    tp = field_type(path)
    base = strip_optional(tp)
    if base is bool and is_optional(tp):
        return _TRISTATE[value]
    if value in (_NONE, "") and is_optional(tp):
        return None
    if path in MULTI_CHOICES:
        return tuple(value)
    if is_str_tuple(base):
        return tuple(part.strip() for part in str(value).split(",") if part.strip())
    if base is float:
        return parse_number(str(value))
    return value


def _to_widget(path: str, value):
    if path in MULTI_CHOICES:
        return list(value or ())
    tp = field_type(path)
    base = strip_optional(tp)
    if base is bool and is_optional(tp):
        return _TRISTATE_WORD[value]
    if is_str_tuple(base):
        return ", ".join(value or ())
    if base is float:
        return number_text(value)
    if value is None:
        return _NONE if path in CHOICES else ("" if base is str else None)
    return value


def field_widget(state: NewRunState, path: str):
    """A widget editing `state.config` at `path`; it follows the config when a preset or clone changes it."""
    widget = _make(path, state.get(path))
    syncing = []

    def to_config(event) -> None:
        if syncing:
            return
        try:
            state.set(path, _from_widget(path, event.new))
        except (TypeError, ValueError) as err:  # a value the field cannot hold: say so, show the old one again
            state.session.notify(f"{label_for(path)}: {err}", "error")
            from_config(None)

    def from_config(event) -> None:
        value = _to_widget(path, state.get(path))
        if widget.value != value:
            syncing.append(True)
            try:
                widget.value = value
            finally:
                syncing.pop()

    widget.param.watch(to_config, "value")
    state.param.watch(from_config, "config")
    return widget


class FieldCells:
    """Each field's widget with a pane below it for what the wizard says of its value (field_notes):
    refreshed on every config change, so an impossible value is refused where it is typed."""

    def __init__(self, state: NewRunState, paths):
        self.state = state
        self.widgets = {path: field_widget(state, path) for path in paths}
        self.notes = {path: note_pane(path) for path in paths}
        self.cells = {path: field_cell(self.widgets[path], self.notes[path]) for path in paths}
        state.param.watch(lambda _: self.refresh(), "config")
        self.refresh()

    def refresh(self) -> dict:
        """Show the current notes; returns them by path ({} while a value has the wrong type)."""
        try:
            notes = self.state.method.notes()
        except (ValueError, TypeError, ZeroDivisionError):  # values of the wrong type: the Review step lists them
            notes = {}
        for path, pane in self.notes.items():
            show_notes(pane, notes.get(path, []))
        return notes


NOTE_STYLES = {
    "error": ("✖", "color:#b3261e;font-weight:600"),
    "warning": ("⚠", "color:#8a5300"),
    "info": ("", "color:#555"),
}


def notes_html(notes) -> str:
    """What a field's checks say (FieldNotes), one line each, the text escaped."""
    parts = []
    for note in notes:
        mark, style = NOTE_STYLES.get(note.level, NOTE_STYLES["info"])
        text = f"{mark} {escape_text(note.text)}" if mark else escape_text(note.text)
        parts.append(f'<div class="gj-field-note gj-field-{note.level}" style="{style};line-height:1.3">{text}</div>')
    return "".join(parts)


def note_pane(path: str) -> pn.pane.HTML:
    """The pane under a field that shows its notes (empty and hidden while there are none)."""
    name = path.replace(".", "-").replace("_", "-")
    return pn.pane.HTML(
        "",
        visible=False,
        width=260,
        margin=(0, 10, 6, 10),
        styles={"font-size": "0.85em"},
        css_classes=["gj-newrun-note", f"gj-newrun-note-{name}"],
    )


def show_notes(pane: pn.pane.HTML, notes) -> None:
    html = notes_html(notes)
    if pane.object != html:
        pane.object = html
    pane.visible = bool(html)


def field_cell(widget, note: pn.pane.HTML) -> pn.Column:
    """A field's widget with its notes below, kept as wide as the widget."""
    return pn.Column(widget, note, width=280, margin=0, css_classes=["gj-newrun-cell"])
