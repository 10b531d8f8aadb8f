"""Messages from the engine (config rules, memory check, data report) in the wizard's words.

The engine names config keys ("Set data.prompt_column", "train.grad_accum_steps=8"), which is right
for a YAML file and a terminal. On the page, a key becomes the label of the field it names, the way
the field is labelled where the value is typed ("Gradient accumulation steps 8"). No Panel import.
"""

from __future__ import annotations

import re

from ui.state.config_fields import has_field
from ui.state.help_text import label_for
from ui.state.wizard_columns import COLUMN_ROLES, role_label

_ROLE_BY_FIELD = {path: role for role, path in COLUMN_ROLES.items()}
# "Set data.prompt_column: question in your config" / "Set data.prompt_column to the right column name"
_SET_COLUMN = re.compile(r"Set (data\.\w+_column)(?:: (.+?) in your config| to the right column name)")
_SWITCH = re.compile(r"\b([a-z_]+\.[a-z_]+)=(true|false)\b")
_PATH = re.compile(r"\b((?:name|runs_dir)\b|[a-z_]+\.[a-z_]+(?:\.[a-z_]+)?)(=|: )?")


def field_label(path: str) -> str:
    """The words the page uses for a config field ("data.prompt_column" -> "Prompt column")."""
    role = _ROLE_BY_FIELD.get(path)
    return f"{role_label(role)} column" if role else label_for(path)


def _set_column(match: re.Match) -> str:
    label = field_label(match.group(1))
    if match.group(2):
        return f"Choose {match.group(2)} as the {label}"
    return f"Choose the {label}"


def _switch(match: re.Match) -> str:
    if not has_field(match.group(1)):
        return match.group(0)
    return f"{field_label(match.group(1))} {'on' if match.group(2) == 'true' else 'off'}"


def _path(match: re.Match) -> str:
    path, joint = match.group(1), match.group(2) or ""
    if "." not in path or not has_field(path):
        return match.group(0)
    label = field_label(path)
    return f"{label} " if joint else label


def in_page_words(message: str) -> str:
    """`message` with config keys replaced by the labels of their fields (the rest kept as written)."""
    message = _SET_COLUMN.sub(_set_column, message)
    message = _SWITCH.sub(_switch, message)
    return _PATH.sub(_path, message)
