"""Switchable text cleaning applied to every turn of every example, with a count of what changed.

Preference pairs are cleaned the same way: their prompt turns, chosen and rejected reply
(`PreferencePair.turns`).

Steps run in a fixed order: HTML first (its entities can produce unusual spaces and
compatibility characters), then Unicode normalisation, control characters, whitespace.
Each step is off or on by itself, and the report says how many examples each step
changed, so a user sees what cleaning did to their data before training on it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TypeVar

from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example, Turn
from gemma_jax.data.preference_pair import PreferencePair

Item = TypeVar("Item", Example, PreferencePair)

UNICODE_FORMS = ("NFC", "NFKC")
STEPS = ("html", "unicode", "control", "whitespace")

# Only these names are treated as HTML tags; anything else in angle brackets (`<start_of_turn>`,
# `List<String>`) is kept as written, because it is more likely text than markup.
HTML_TAGS = frozenset(
    """a abbr address area article aside audio b base bdi bdo blockquote body br button canvas caption center
    cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset
    figcaption figure font footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input
    ins kbd label legend li link main map mark menu meta meter nav noscript object ol optgroup option
    output p param picture pre progress q rp rt ruby s samp script section select small source span
    strike strong style sub summary sup svg table tbody td template textarea tfoot th thead time title
    tr track tt u ul var video wbr""".split()  # noqa: SIM905  (a word list reads best as text)
)
# Tags whose start or end separates lines of text; inline tags (b, span, a, ...) do not.
_BLOCK_TAGS = frozenset(
    """address article aside blockquote body br dd details dialog div dl dt fieldset figcaption figure footer
    form h1 h2 h3 h4 h5 h6 header hgroup hr html li main nav ol p pre section summary table tbody td
    tfoot th thead tr ul""".split()  # noqa: SIM905  (a word list reads best as text)
)
_SKIP_CONTENT = frozenset({"script", "style", "template", "head", "title", "noscript"})


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment; entities are decoded by the parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag not in HTML_TAGS:
            self._literal(self.get_starttag_text() or "")
        elif tag in _SKIP_CONTENT:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag not in HTML_TAGS:
            self._literal(self.get_starttag_text() or "")
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag not in HTML_TAGS:
            self._literal(f"</{tag}>")
        elif tag in _SKIP_CONTENT:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_data(self, data: str) -> None:
        self._literal(data)

    def _literal(self, text: str) -> None:
        if not self._skipping:
            self.parts.append(text)

    def _break(self) -> None:
        if not self._skipping and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")


def strip_html(text: str) -> str:
    """Visible text of `text` with HTML tags, comments, scripts and styles removed, entities decoded."""
    if "<" not in text and "&" not in text:
        return text
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts).strip("\n")


def normalize_unicode(text: str, form: str = "NFC") -> str:
    """NFC composes accents (same look, one code point); NFKC also folds compatibility forms (ﬁ -> fi)."""
    return unicodedata.normalize(form, text)


_KEEP_CONTROLS = frozenset("\n\t\r")


def drop_control_chars(text: str) -> str:
    """Remove control characters (except newline, tab, CR), byte-order marks and lone surrogates.

    Format characters such as zero-width joiners stay: emoji sequences and some scripts need them.
    """
    return "".join(
        ch for ch in text if ch in _KEEP_CONTROLS or not (unicodedata.category(ch) in ("Cc", "Cs") or ch == "\ufeff")
    )


_ODD_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_INNER_RUNS = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    """Unusual spaces become plain ones, CRLF becomes LF, runs of spaces inside a line and of blank
    lines shrink to one, trailing spaces go. Leading indentation stays, so code keeps its shape."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ODD_SPACES.sub(" ", text)
    text = _INNER_RUNS.sub(" ", text)
    text = _TRAILING.sub("", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


@dataclass(frozen=True)
class CleaningOptions:
    """Which steps run; `unicode_form` None turns Unicode normalisation off."""

    strip_html: bool = False
    unicode_form: str | None = "NFC"
    drop_control_chars: bool = True
    normalize_whitespace: bool = False

    def __post_init__(self) -> None:
        if self.unicode_form is not None and self.unicode_form not in UNICODE_FORMS:
            raise DataError(
                f"data.unicode_form must be NFC, NFKC or null (off); got {self.unicode_form!r}. "
                "NFC is the safe choice; NFKC also folds look-alike characters such as 'ﬁ' into 'fi'."
            )

    @classmethod
    def from_config(cls, cfg) -> CleaningOptions:
        """The options a DataConfig asks for."""
        return cls(
            strip_html=cfg.clean_html,
            unicode_form=cfg.unicode_form,
            drop_control_chars=cfg.drop_control_chars,
            normalize_whitespace=cfg.normalize_whitespace,
        )

    def steps(self) -> list[tuple[str, Callable[[str], str]]]:
        chosen: list[tuple[str, Callable[[str], str]]] = []
        if self.strip_html:
            chosen.append(("html", strip_html))
        if self.unicode_form:
            form = self.unicode_form
            chosen.append(("unicode", lambda text: normalize_unicode(text, form)))
        if self.drop_control_chars:
            chosen.append(("control", drop_control_chars))
        if self.normalize_whitespace:
            chosen.append(("whitespace", normalize_whitespace))
        return chosen


@dataclass
class CleaningReport:
    """How many examples each step changed, and which examples cleaning left with an empty turn."""

    examples: int = 0
    changed: dict[str, int] = field(default_factory=dict)  # step -> examples it changed
    changed_any: int = 0
    emptied: list[str] = field(default_factory=list)  # sources of examples cleaning made unusable (became_unusable)

    def to_dict(self) -> dict:
        return {
            "examples": self.examples,
            "changed": dict(self.changed),
            "changed_any": self.changed_any,
            "emptied": list(self.emptied),
        }


def clean_example(example: Item, options: CleaningOptions) -> tuple[Item, set[str]]:
    """The cleaned example or pair (other fields kept) and the names of the steps that changed it."""
    changed: set[str] = set()
    turns = []
    for turn in example.turns:
        text = turn.text
        for name, step in options.steps():
            new = step(text)
            if new != text:
                changed.add(name)
                text = new
        turns.append(turn if text == turn.text else Turn(turn.role, text))
    return (example.with_turns(tuple(turns)) if changed else example), changed


def became_unusable(before: Item, after: Item) -> bool:
    """Cleaning emptied a user or model turn that had text (e.g. a turn that was only HTML markup),
    or made a pair's chosen and rejected reply the same text (such a pair teaches nothing)."""
    emptied = any(
        old.text.strip() and not new.text.strip() for old, new in zip(before.turns, after.turns) if old.role != "system"
    )
    return emptied or (isinstance(after, PreferencePair) and after.chosen.strip() == after.rejected.strip())


def clean_examples(examples: Iterable[Item], options: CleaningOptions) -> tuple[list[Item], CleaningReport]:
    """Clean every example (or pair); the report counts per step how many it changed."""
    report = CleaningReport(changed={name: 0 for name, _ in options.steps()})
    out = []
    for example in examples:
        cleaned, changed = clean_example(example, options)
        report.examples += 1
        for name in changed:
            report.changed[name] += 1
        if changed:
            report.changed_any += 1
            if became_unusable(example, cleaned):
                report.emptied.append(cleaned.source or f"example {report.examples}")
        out.append(cleaned)
    return out, report
