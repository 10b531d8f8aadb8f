"""The format-independent form of one training example, shared by readers and the template."""

from __future__ import annotations

from dataclasses import dataclass, replace

ROLES = ("system", "user", "model")
KINDS = ("chat", "text", "classification", "preference")


@dataclass(frozen=True)
class Turn:
    """One message of a conversation; `model` is Gemma's name for the assistant."""

    role: str
    text: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Turn role must be one of {', '.join(ROLES)}; got {self.role!r}.")
        if not isinstance(self.text, str):
            raise TypeError(f"Turn text must be a string; got {type(self.text).__name__}.")


@dataclass(frozen=True)
class Example:
    """A conversation to learn from; `source` ("file.jsonl:12") lets messages point at the row.

    `kind` says what the row was: chat (prompt/response or messages), text (raw text
    for continued pretraining: one model turn, so every text token carries loss),
    classification (the text as user turn, `label` as the model's answer) or
    preference (the prompt with the chosen reply, for SFT on preference data).
    """

    turns: tuple[Turn, ...]
    source: str = ""
    kind: str = "chat"
    label: str | None = None
    augmentation: str = ""  # how augment.py made this copy of the example at `source`; "" for real data
    columns: tuple[tuple[str, str], ...] = ()  # (data.split_by column, its value in the row)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Example kind must be one of {', '.join(KINDS)}; got {self.kind!r}.")

    def with_turns(self, turns: tuple[Turn, ...], **changes) -> Example:
        """This example with other turns (and other `changes`); cleaning and augmentation use it."""
        return replace(self, turns=tuple(turns), **changes)

    @property
    def response(self) -> str:
        """The last model turn's text (what a prompt/response row calls the response)."""
        for turn in reversed(self.turns):
            if turn.role == "model":
                return turn.text
        return ""

    @property
    def prompt(self) -> str:
        """The first user turn's text."""
        for turn in self.turns:
            if turn.role == "user":
                return turn.text
        return ""

    @classmethod
    def from_prompt_response(cls, prompt: str, response: str, system: str | None = None, source: str = "") -> Example:
        turns = [Turn("user", prompt), Turn("model", response)]
        if system:
            turns.insert(0, Turn("system", system))
        return cls(tuple(turns), source)
