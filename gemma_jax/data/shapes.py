"""Which record shape a source holds, and which column plays which role.

The configured column names are used as given. With data.infer_columns, look-alike
names (question -> prompt) are mapped when exactly one column fits; when several
fit, or two shapes fit equally, the user is asked to choose, naming the config key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.errors import DataError

SHAPES = ("prompt_response", "chat", "text", "classification", "preference")
ROLE_FIELDS = {
    "prompt": "prompt_column",
    "response": "response_column",
    "system": "system_column",
    "messages": "messages_column",
    "text": "text_column",
    "label": "label_column",
    "chosen": "chosen_column",
    "rejected": "rejected_column",
}
NEEDS = {
    "chat": ("messages",),
    "prompt_response": ("prompt", "response"),
    "preference": ("chosen", "rejected"),
    "classification": ("text", "label"),
    "text": ("text",),
}
OPTIONAL = {"prompt_response": ("system",), "chat": ("system",), "preference": ("prompt", "system")}
SYNONYMS = {
    "prompt": ("prompt", "question", "instruction", "input", "query", "text"),
    "response": ("response", "answer", "output", "completion", "target", "reply"),
    "messages": ("messages", "conversations", "conversation", "chat", "dialog"),
    "system": ("system", "system_prompt"),
    "text": ("text", "content", "document", "sentence", "body", "passage"),
    "label": ("label", "labels", "class", "category", "sentiment", "target"),
    "chosen": ("chosen", "preferred", "accepted", "better"),
    "rejected": ("rejected", "dispreferred", "worse"),
}
# Shapes that cannot both be meant: when the columns of both are there, the user must pick.
CONFLICTS = (("prompt_response", "preference"), ("prompt_response", "classification"), ("chat", "preference"))
# Old behaviour: a file can mix chat rows and prompt/response rows.
CONVERSATION = ("chat", "prompt_response")


@dataclass(frozen=True)
class Mapping:
    """The shape and role -> column name; `extra` records data.infer_columns' guesses (for the report)."""

    shape: str
    columns: dict[str, str]
    inferred: dict[str, str] = field(default_factory=dict)

    def field_for(self, role: str) -> str:
        return f"data.{ROLE_FIELDS[role]}"


def detect_shape(columns: list[str], cfg: DataConfig, display: str) -> Mapping | None:
    """The shape and column mapping, None when no shape's columns are all there (the converter explains)."""
    present = list(dict.fromkeys(columns))
    if cfg.shape != "auto":
        mapping = _resolve(cfg.shape, present, cfg, display)
        return mapping or Mapping(cfg.shape, _configured(cfg.shape, cfg))
    found = {shape: m for shape in SHAPES if (m := _resolve(shape, present, cfg, display)) is not None}
    for one, other in CONFLICTS:
        if one in found and other in found and _distinct(found[one], found[other]):
            raise DataError(
                f"{display} fits two record shapes: {one} (columns {_cols(found[one])}) and {other} "
                f"(columns {_cols(found[other])}). Set data.shape: {one} or data.shape: {other}.",
                path=display,
            )
    for shape in ("chat", "prompt_response", "preference", "classification", "text"):
        if shape in found:
            mapping = found[shape]
            if shape == "chat" and "prompt_response" in found:  # rows may mix both forms
                columns = {**found["prompt_response"].columns, **mapping.columns}
                mapping = Mapping("chat", columns, {**found["prompt_response"].inferred, **mapping.inferred})
            return mapping
    return None


def _configured(shape: str, cfg: DataConfig) -> dict[str, str]:
    roles = NEEDS[shape] + OPTIONAL.get(shape, ())
    if shape == "chat":
        roles += NEEDS["prompt_response"]
    return {r: getattr(cfg, ROLE_FIELDS[r]) for r in roles if getattr(cfg, ROLE_FIELDS[r])}


def _resolve(shape: str, present: list[str], cfg: DataConfig, display: str) -> Mapping | None:
    columns: dict[str, str] = {}
    inferred: dict[str, str] = {}
    taken: set[str] = set()
    for role in NEEDS[shape] + OPTIONAL.get(shape, ()):
        configured = getattr(cfg, ROLE_FIELDS[role])
        if configured and configured in present:
            columns[role] = configured
            taken.add(configured)
    for role in NEEDS[shape] + OPTIONAL.get(shape, ()):
        if role in columns or not cfg.infer_columns or (role == "system" and not cfg.system_column):
            continue
        lowered = {c.lower(): c for c in present if c not in taken}
        candidates = [lowered[s] for s in SYNONYMS[role] if s in lowered]
        if len(candidates) > 1 and role in NEEDS[shape]:
            raise DataError(
                f"{display}: columns {limits.names_text(candidates)} could each be the {role} "
                f"column. Set {ROLE_FIELDS[role] and 'data.' + ROLE_FIELDS[role]} to the right one.",
                path=display,
            )
        if candidates:
            columns[role] = inferred[role] = candidates[0]
            taken.add(candidates[0])
    if all(role in columns for role in NEEDS[shape]):
        return Mapping(shape, columns, inferred)
    return None


def _distinct(one: Mapping, other: Mapping) -> bool:
    """Two complete shapes really compete unless one's needed columns all serve the other too."""
    a = {one.columns[r] for r in NEEDS[one.shape]}
    b = {other.columns[r] for r in NEEDS[other.shape]}
    return not (a <= b or b <= a)


def _cols(mapping: Mapping) -> str:
    return ", ".join(repr(mapping.columns[r]) for r in NEEDS[mapping.shape])


# ----- suggesting a mapping for a new file ----------------------------------------------------------------
# Column names of common dataset layouts, most telling first (compared lower-case, "-" and " " as "_").
# Unlike data.infer_columns (used while reading, and refusing anything ambiguous), these pick one answer
# for a person to confirm: the New-run wizard sets them when a file is chosen.
SUGGESTED_NAMES = {
    "messages": ("messages", "conversations", "conversation", "chat", "dialog", "dialogue", "turns"),
    "chosen": ("chosen", "preferred", "accepted", "better", "chosen_response"),
    "rejected": ("rejected", "dispreferred", "worse", "rejected_response"),
    "prompt": ("prompt", "question", "query", "instruction", "input", "user", "human", "request", "source"),
    "response": ("response", "answer", "completion", "output", "reply", "target", "assistant", "gpt", "answers"),
    "system": ("system", "system_prompt", "context", "input"),
    "text": ("text", "content", "document", "sentence", "body", "passage", "review"),
    "label": ("label", "labels", "class", "category", "sentiment", "intent", "topic"),
}


@dataclass(frozen=True)
class ColumnSuggestion:
    """A shape and role -> column for a file's columns, and the layout's name in words ("Alpaca")."""

    shape: str
    columns: dict[str, str]
    layout: str


def _normal_name(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def suggest_columns(columns: list[str], preferred: str = "auto") -> ColumnSuggestion | None:
    """The most likely mapping of a file's `columns`, or None when no known layout fits.

    Layouts, in order: chat (a messages/conversations column: OpenAI messages or ShareGPT), preference
    pairs (chosen and rejected), Alpaca (instruction, output and an optional input, which is put before
    the instruction as the system/context text), prompt and response (question/answer,
    prompt/completion, ...; a context or system column goes before the prompt), classification (a text
    and a label) and plain text. With `preferred` set to a shape, that shape wins when its columns are there.
    """
    by_name: dict[str, str] = {}
    for column in columns:
        by_name.setdefault(_normal_name(str(column)), column)
    layouts = [s for s in _LAYOUTS if preferred in ("auto", s[0])] + [s for s in _LAYOUTS if s[0] != preferred]
    for shape, layout, needed, optional in layouts:
        found = _pick(by_name, needed, optional)
        if found is not None:
            return ColumnSuggestion(shape, found, layout)
    return None


def _pick(by_name: dict[str, str], needed: tuple, optional: tuple) -> dict[str, str] | None:
    """role -> column for every needed role (a role is a name from SUGGESTED_NAMES, or (role, names))."""
    chosen: dict[str, str] = {}
    for spec in needed + optional:
        role, names = spec if isinstance(spec, tuple) else (spec, SUGGESTED_NAMES[spec])
        column = next((by_name[n] for n in names if n in by_name and by_name[n] not in chosen.values()), None)
        if column is not None:
            chosen[role] = column
        elif spec in needed:
            return None
    return chosen


_ALPACA = (("prompt", ("instruction",)), ("response", ("output",)))
_LAYOUTS = (  # (shape, layout in words, needed roles, optional roles)
    ("chat", "chat messages", ("messages",), ("system",)),
    ("preference", "preference pairs", ("chosen", "rejected"), ("prompt", "system")),
    ("prompt_response", "Alpaca", _ALPACA, (("system", ("input",)),)),
    ("prompt_response", "prompt and response", ("prompt", "response"), ("system",)),
    ("classification", "text and label", ("text", "label"), ()),
    ("text", "plain text", ("text",), ()),
)
