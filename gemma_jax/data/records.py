"""Turn parsed records into Examples (or PreferencePairs) for the detected shape.

Every unusable value becomes a Problem naming the line or row and the column and
saying what to change; conversion itself never raises.
"""

from __future__ import annotations

import difflib
import json
import math
from collections import defaultdict
from dataclasses import replace

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.example import Example, Turn
from gemma_jax.data.json_values import TooDeep, depth_message, loads
from gemma_jax.data.preference_pair import PreferencePair
from gemma_jax.data.record_source import RecordSource
from gemma_jax.data.report import Problem
from gemma_jax.data.shapes import CONVERSATION, ROLE_FIELDS, SYNONYMS, Mapping

ROLE_NAMES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "model",
    "model": "model",
    "gpt": "model",
}

Item = Example | PreferencePair


class RecordConverter:
    """Converts one source's records; `finish()` adds the problems that cover many rows."""

    def __init__(self, src: RecordSource, mapping: Mapping | None, cfg: DataConfig):
        self.src, self.mapping, self.cfg = src, mapping, cfg
        self.shape = mapping.shape if mapping else "prompt_response"
        self.columns = dict(mapping.columns) if mapping else {}
        if mapping is None:  # nothing fits: report against the configured prompt/response columns
            self.columns = {
                "prompt": cfg.prompt_column,
                "response": cfg.response_column,
                "messages": cfg.messages_column,
            }
        if cfg.system_column and self.shape in CONVERSATION + ("preference",):
            self.columns.setdefault("system", cfg.system_column)
        self._missing: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = defaultdict(list)
        self._saw_system = False
        self._header_checked = False
        self.records = 0

    # ----- one record -------------------------------------------------------------------------------------
    def convert(self, number: int, record: dict) -> Item | None:
        item = self._convert(number, record)
        by = self.cfg.split_by
        if item is not None and by and by in record:  # keep the column to stratify on (data.split_by)
            value = _label(record[by])
            if value is not None:
                item = replace(item, columns=((by, value),))
        return item

    def _convert(self, number: int, record: dict) -> Item | None:
        self.records += 1
        if self.src.columns is not None and not self._header_checked:
            self._header_checked = True
            if not self._header_ok(self.src.columns):
                self.columns = {}
        if not self.columns:
            return None
        if self.shape in CONVERSATION:
            return self._conversation(number, record)
        needed = {"text": ("text",), "classification": ("text", "label"), "preference": ("chosen", "rejected")}
        absent = tuple(self.columns.get(r, r) for r in needed[self.shape] if self.columns.get(r) not in record)
        if absent:
            self._note_missing((absent, tuple(record)), number)
            return None
        return getattr(self, f"_{self.shape}")(number, record)

    def _conversation(self, number: int, record: dict) -> Example | None:
        messages = self.columns.get("messages")
        if messages and messages in record:
            turns = self._messages(record[messages], messages, number)
        else:
            pair = (
                self.columns.get("prompt", self.cfg.prompt_column),
                self.columns.get("response", self.cfg.response_column),
            )
            absent = tuple(n for n in pair if n not in record)
            if absent:
                self._note_missing((absent, tuple(record)), number)
                return None
            turns = self._prompt_response(record, number, *pair)
        system_column = self.columns.get("system")
        system = record.get(system_column) if system_column else None
        self._saw_system = self._saw_system or (system_column in record if system_column else False)
        if turns is None:
            return None
        if isinstance(system, str) and system.strip() and turns[0].role != "system":
            turns.insert(0, Turn("system", system))
        return Example(tuple(turns), source=self._source(number))

    def _text(self, number: int, record: dict) -> Example | None:
        text = self._required_text(record, self.columns["text"], number, "text")
        return None if text is None else Example((Turn("model", text),), self._source(number), kind="text")

    def _classification(self, number: int, record: dict) -> Example | None:
        text = self._required_text(record, self.columns["text"], number, "text")
        label = _label(record[self.columns["label"]])
        if label is None:
            self.src.problem(
                number,
                f"the label is missing ({_shown(record[self.columns['label']])}). Give every row a label, or delete the row.",
                column=self.columns["label"],
                code="missing",
            )
            return None
        if text is None:
            return None
        turns = (Turn("user", text), Turn("model", label))
        return Example(turns, self._source(number), kind="classification", label=label)

    def _preference(self, number: int, record: dict) -> PreferencePair | None:
        chosen_col, rejected_col = self.columns["chosen"], self.columns["rejected"]
        prompt_col = self.columns.get("prompt")
        chosen, rejected = record[chosen_col], record[rejected_col]
        prompt: list[Turn] | None
        if isinstance(chosen, list) and isinstance(rejected, list):  # two whole conversations
            chosen_turns = self._messages(chosen, chosen_col, number)
            rejected_turns = self._messages(rejected, rejected_col, number)
            if chosen_turns is None or rejected_turns is None:
                return None
            prompt = chosen_turns[:-1]
            if prompt != rejected_turns[:-1]:
                self.src.problem(
                    number,
                    "chosen and rejected conversations start differently; only their last "
                    "assistant message may differ.",
                    column=rejected_col,
                )
                return None
            chosen_text, rejected_text = chosen_turns[-1].text, rejected_turns[-1].text
        else:
            if prompt_col is None or prompt_col not in record:
                self._note_missing(((self.cfg.prompt_column,), tuple(record)), number)
                return None
            prompt_value = record[prompt_col]
            if isinstance(prompt_value, list):
                prompt = self._messages(prompt_value, prompt_col, number, need_reply=False)
            else:
                text = self._required_text(record, prompt_col, number, "prompt")
                prompt = None if text is None else [Turn("user", text)]
            chosen_text = self._required_text(record, chosen_col, number, "chosen reply")
            rejected_text = self._required_text(record, rejected_col, number, "rejected reply")
            if prompt is None or chosen_text is None or rejected_text is None:
                return None
        system_col = self.columns.get("system")
        system = record.get(system_col) if system_col else None
        if isinstance(system, str) and system.strip() and prompt[0].role != "system":
            prompt.insert(0, Turn("system", system))
        if chosen_text.strip() == rejected_text.strip():
            self.src.problem(
                number,
                "chosen and rejected are the same text, so the pair teaches nothing. Change one or delete the row.",
                column=rejected_col,
                code="preference",
            )
            return None
        return PreferencePair(tuple(prompt), chosen_text, rejected_text, self._source(number))

    # ----- values -----------------------------------------------------------------------------------------
    def _required_text(self, record: dict, column: str, number: int, what: str) -> str | None:
        text = _text_value(record[column])
        if text is None:
            self.src.problem(
                number,
                f"the {what} must be text, not {type(record[column]).__name__}. Write it as a string.",
                column=column,
                code="type",
            )
            return None
        if not text.strip():
            self.src.problem(number, f"the {what} is empty. Fill it in or delete the row.", column=column, code="empty")
            return None
        return text

    def _prompt_response(self, record: dict, number: int, prompt: str, response: str) -> list[Turn] | None:
        turns = []
        for role, column, what in (("user", prompt, "prompt"), ("model", response, "response")):
            text = self._required_text(record, column, number, what)
            if text is not None:
                turns.append(Turn(role, text))
        return turns if len(turns) == 2 else None

    def _messages(self, value: object, column: str, number: int, need_reply: bool = True) -> list[Turn] | None:
        """A chat: optional system first, then user/model alternating, ending with model (when `need_reply`)."""
        problem = self.src.problem
        if value is None or (isinstance(value, str) and not value.strip()):
            problem(number, "the messages are empty. Fill them in or delete the row.", column=column, code="empty")
            return None
        if isinstance(value, str):
            try:
                value = loads(value)
            except json.JSONDecodeError as err:
                problem(
                    number,
                    f"the messages are not valid JSON ({err.msg} at character {err.pos + 1}). "
                    'Write them as a JSON list like [{"role": "user", "content": "..."}, ...].',
                    column=column,
                )
                return None
            except TooDeep:
                problem(number, depth_message("the messages' JSON"), column=column, code="limit")
                return None
        if hasattr(value, "tolist"):
            value = value.tolist()
        if not isinstance(value, list) or not value:
            problem(
                number,
                "expected a non-empty list of messages like "
                '[{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}].',
                column=column,
            )
            return None
        turns: list[Turn] = []
        for n, message in enumerate(value, 1):
            at = f"message {n}"
            if isinstance(message, dict) and "from" in message and "value" in message:  # ShareGPT style
                message = {"role": message["from"], "content": message["value"]}
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                problem(number, 'each message needs a "role" and a "content" key.', column=column, detail=at)
                return None
            role = ROLE_NAMES.get(str(message["role"]).strip().lower())
            if role is None:
                problem(
                    number,
                    f"unknown role {limits.shorten(repr(message['role']), 80)}; use system, user or assistant.",
                    column=column,
                    detail=at,
                )
                return None
            text = message["content"]
            if not isinstance(text, str) or not text.strip():
                problem(
                    number,
                    "the content is empty or not text. Fill it in or remove the message.",
                    column=column,
                    detail=at,
                    code="empty",
                )
                return None
            expected = ("system", "user") if not turns else ("user",) if turns[-1].role != "user" else ("model",)
            if role not in expected:
                problem(
                    number,
                    f"a {limits.shorten(str(message['role']), 40)} message cannot come here; after an optional system "
                    "message, turns must alternate user, assistant, user, assistant, ...",
                    column=column,
                    detail=at,
                )
                return None
            turns.append(Turn(role, text))
        if need_reply and turns[-1].role != "model":
            problem(
                number,
                "the conversation does not end with an assistant message, so there is "
                "nothing to learn. Add the assistant's reply or remove the last message.",
                column=column,
            )
            return None
        return turns

    def _note_missing(self, key: tuple[tuple[str, ...], tuple[str, ...]], number: int) -> None:
        """Remember a row that lacks columns; past the source's listed_per_code rows per key it is only counted."""
        numbers = self._missing[key]
        if self.src.listed_per_code is not None and len(numbers) >= self.src.listed_per_code:
            self.src.omitted += 1
            return
        numbers.append(number)

    def _source(self, number: int) -> str:
        return f"{self.src.name}:{number}"

    # ----- problems over many rows ------------------------------------------------------------------------
    def _header_ok(self, header: list[str]) -> bool:
        """A header must name the needed columns (reported once, not per row)."""
        if self.shape in CONVERSATION:
            messages = self.columns.get("messages")
            needed = [] if messages in header else [self.columns.get("prompt"), self.columns.get("response")]
            if self.columns.get("system"):
                needed.append(self.columns["system"])
        else:
            needed = list(self.columns.values())
        absent = tuple(n for n in needed if n and n not in header)
        if absent:
            self._report_missing(None, absent, header, header=True)
        return not absent

    def finish(self) -> None:
        for (absent, columns), numbers in self._missing.items():
            self._report_missing(numbers, absent, list(columns))
        system = self.columns.get("system")
        if system and self.records and self.src.columns is None and not self._saw_system and self.shape in CONVERSATION:
            self._report_missing(None, (system,), [], detail="every line", chat_hint=False)

    def _report_missing(
        self,
        numbers: list[int] | None,
        absent: tuple[str, ...],
        columns: list[str],
        detail: str = "",
        chat_hint: bool = True,
        header: bool = False,
    ) -> None:
        if not columns and self.src.columns:
            columns = self.src.columns
        have = limits.names_text(columns) or "none"
        fixes = []
        for name in absent:
            field = self._config_field(name)
            guess = _did_you_mean(name, field, [c for c in columns if c not in absent])
            hint = (
                f" Did you mean {guess!r}? Set data.{field}: {guess} in your config,"
                if guess
                else f" Set data.{field} to the right column name,"
            )
            fixes.append(f"No {name!r} column.{hint} or rename the column in the file.")
        alt = ""
        if chat_hint and self.shape in CONVERSATION:
            alt = (
                f" (Chat data instead needs a {self.cfg.messages_column!r} column holding a list "
                'of {"role": ..., "content": ...} messages; raw text needs a '
                f"{self.cfg.text_column!r} column, classification {self.cfg.text_column!r} and "
                f"{self.cfg.label_column!r}, preference pairs {self.cfg.chosen_column!r} and "
                f"{self.cfg.rejected_column!r}.)"
            )
        message = " ".join(fixes) + f" The columns found are: {have}.{alt}"
        if header:
            self.src.problems.append(Problem(self.src.at(1, detail="(the header)"), message, code="columns"))
        elif numbers:
            location = self.src.at(numbers[0])
            self.src.problems.append(Problem(location, message, code="columns", lines=tuple(numbers)))
        else:
            self.src.problems.append(Problem(self.src.at(None, detail=detail), message, code="columns"))

    def _config_field(self, name: str) -> str:
        for role, column in self.columns.items():
            if column == name:
                return ROLE_FIELDS[role]
        for field in ROLE_FIELDS.values():
            if getattr(self.cfg, field) == name:
                return field
        return "prompt_column"


def _did_you_mean(name: str, field: str, columns: list[str]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return lowered[close[0]]
    role = next((r for r, f in ROLE_FIELDS.items() if f == field), "")
    for synonym in SYNONYMS.get(role, ()):
        if synonym in lowered:
            return lowered[synonym]
    return None


def _text_value(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _label(value: object) -> str | None:
    """A label as text; None for missing ones (null, NaN, empty, 'nan')."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, (int, str)):
        text = str(value).strip()
        return None if text.lower() in ("", "nan", "null", "none", "n/a") else text
    return None


def _shown(value: object) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return "empty" if value in (None, "") else limits.shorten(repr(value), 80)
