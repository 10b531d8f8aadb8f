"""The Data step's column mapping: which column plays which part, reset for every new file, matched
automatically from common column names, and explained in the page's words. No Panel import."""

from __future__ import annotations

import dataclasses
import itertools

from gemma_jax.config.job_config import DataConfig, JobConfig
from gemma_jax.data.errors import DataError
from gemma_jax.data.shapes import NEEDS, ColumnSuggestion, suggest_columns
from ui.state.config_fields import get_field, set_field

# Column roles the user can map, and the DataConfig field each one sets.
COLUMN_ROLES = {
    "prompt": "data.prompt_column",
    "response": "data.response_column",
    "messages": "data.messages_column",
    "text": "data.text_column",
    "label": "data.label_column",
    "chosen": "data.chosen_column",
    "rejected": "data.rejected_column",
    "system": "data.system_column",
}
# The roles each data shape reads (the mapping shows these once the shape is known).
SHAPE_ROLES = {
    "prompt_response": ("prompt", "response", "system"),
    "chat": ("messages", "system"),
    "text": ("text",),
    "classification": ("text", "label"),
    "preference": ("prompt", "chosen", "rejected", "system"),
}
# What the page calls each role (the column pickers' labels, and every message about them).
ROLE_LABELS = {
    "prompt": "Prompt",
    "response": "Response",
    "messages": "Messages",
    "text": "Text",
    "label": "Label",
    "chosen": "Chosen answer",
    "rejected": "Rejected answer",
    "system": "System or context (optional)",
}
SHAPE_WORDS = {
    "prompt_response": "prompts and responses",
    "chat": "chat conversations",
    "text": "plain text",
    "classification": "texts with labels",
    "preference": "preference pairs (a better and a worse answer)",
}
DEFAULT_SHAPE = "prompt_response"  # the roles shown while nothing fits: the most common kind of file
PEEK_RECORDS = 200  # records read to learn the columns of files without a header (JSON Lines)


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role.capitalize()).removesuffix(" (optional)")


def reset_mapping(cfg: JobConfig) -> JobConfig:
    """`cfg` with every column role back at its default name: a new file must not inherit the last one's."""
    default = JobConfig()
    for path in COLUMN_ROLES.values():
        cfg = set_field(cfg, path, get_field(default, path))
    return cfg


def with_suggestion(cfg: JobConfig, suggestion: ColumnSuggestion) -> JobConfig:
    """`cfg` mapped as `suggestion` says: its shape, and its columns (the other roles at their defaults)."""
    cfg = set_field(reset_mapping(cfg), "data.shape", suggestion.shape)
    for role, column in suggestion.columns.items():
        cfg = set_field(cfg, COLUMN_ROLES[role], column)
    return cfg


def mapping_of(data: DataConfig) -> dict[str, object]:
    """The shape and column fields of `data` (what a suggestion changes), by field name."""
    names = ["shape", *(path.split(".", 1)[1] for path in COLUMN_ROLES.values())]
    return {name: getattr(data, name) for name in names}


def with_mapping(cfg: JobConfig, data: DataConfig) -> JobConfig:
    """`cfg` with the shape and column fields of `data`, everything else kept."""
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **mapping_of(data)))


def file_columns(data: DataConfig) -> list[str]:
    """The columns of `data.train_path`: its header, or the keys of its first records; [] when unreadable.

    Reads the file: call it where the data check runs (the isolated child), not on the server thread.
    """
    from gemma_jax.data.reader_registry import open_records
    from gemma_jax.data.readers import EXAMPLE_DATASET, resolve_path

    path = data.train_path
    display = str(resolve_path(path)) if path == EXAMPLE_DATASET else path
    try:
        src = open_records(resolve_path(path), display, data)
        if src.columns is not None:
            return list(src.columns)
        ahead = itertools.islice(src.records, PEEK_RECORDS)
        return list(dict.fromkeys(str(key) for _, record in ahead for key in record))
    except (DataError, OSError, ValueError):
        return []


def suggest_for(data: DataConfig) -> ColumnSuggestion | None:
    """The likely mapping of the file `data` names (a shape already chosen wins when its columns are there)."""
    return suggest_columns(file_columns(data), data.shape)


def suggestion_words(suggestion: ColumnSuggestion) -> str:
    """ "Matched the columns automatically: ..." for the page."""
    pairs = ", ".join(f"{column} → {role_label(role)}" for role, column in suggestion.columns.items())
    kind = SHAPE_WORDS.get(suggestion.shape, suggestion.shape)
    layout = f"{suggestion.layout} layout, " if suggestion.layout == "Alpaca" else ""
    note = " (the input is put before the instruction)" if "input" in suggestion.columns.values() else ""
    return (
        f"Columns matched automatically ({layout}{kind}): {pairs}{note}. "
        "Change them below if a column plays another part."
    )


def shown_roles(data: DataConfig, detected: str | None) -> list[str]:
    """The roles worth showing: those of the chosen shape, else of the detected one, else prompt and response."""
    shape = data.shape if data.shape != "auto" else detected
    return list(SHAPE_ROLES.get(shape or "", SHAPE_ROLES[DEFAULT_SHAPE]))


def missing_roles(data: DataConfig, columns: list[str], detected: str | None) -> list[str]:
    """Needed roles whose column is not in the file (for a file that could be read and has columns)."""
    if not columns:
        return []
    shape = data.shape if data.shape != "auto" else detected
    if shape not in NEEDS:
        shape = DEFAULT_SHAPE
    needed = NEEDS[shape]
    return [role for role in needed if get_field_safe(data, role) not in columns]


def get_field_safe(data: DataConfig, role: str) -> object:
    return getattr(data, COLUMN_ROLES[role].split(".", 1)[1], None)


def column_advice(data: DataConfig, columns: list[str], detected: str | None) -> str:
    """What to do, in the page's words, when the mapped columns are not in the file ('' when they are)."""
    missing = missing_roles(data, columns, detected)
    if not missing:
        return ""
    labels = " and the ".join(f"{role_label(role)} column" for role in missing)
    shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    hint = ""
    if data.shape == "auto" and detected in (None, "", "unknown"):
        hint = " For chat, plain text, labelled or preference data, pick its Shape first."
    return f"Choose the {labels} below: the file's columns are {shown}.{hint}"
