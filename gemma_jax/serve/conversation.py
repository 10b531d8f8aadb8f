"""A Playground conversation as the model reads it: training's chat template, trimmed to what fits.

Every earlier exchange goes into the prompt, in the template training used (data/chat_template.py),
so a multi-turn chat reads exactly like a multi-turn training example. When the whole conversation
would not fit (the model's context, with room for the answer, or this machine's memory:
decoding/fit.py), the oldest exchanges are left out and the caller is told how many. No JAX import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gemma_jax.data.chat_template import MODEL_HEADER, render_text
from gemma_jax.data.example import Example, Turn

ROLES = ("user", "model")


def parse_history(history: object) -> list[Turn]:
    """The earlier turns of a generate request ([{"role": "user"|"model", "text": str}, ...]) as Turns."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise ValueError("history must be a list of {role, text} turns")  # noqa: TRY004  (the worker's user error)
    turns = []
    for item in history:
        if not isinstance(item, dict) or item.get("role") not in ROLES or not isinstance(item.get("text"), str):
            raise ValueError(f"each history turn needs a role (user or model) and a text, got {str(item)[:200]!r}")
        turns.append(Turn(item["role"], item["text"]))
    return turns


def conversation_prompt(turns: Sequence[Turn]) -> str:
    """`turns` (ending with the user's new turn) in the training chat template, then the open model turn.

    One user turn gives exactly `prompt_text(user)`, what single prompts have always been sent as.
    """
    return render_text(Example(tuple(turns))) + MODEL_HEADER


@dataclass(frozen=True)
class FittedConversation:
    """The prompt to send, its length in tokens (<bos> included), and how many earlier exchanges it leaves out."""

    prompt: str
    tokens: int
    dropped: int
    exchanges: int  # earlier exchanges there were
    problem: str | None  # why the whole conversation did not fit (None when nothing was left out)


def _exchanges(turns: Sequence[Turn]) -> list[list[Turn]]:
    """Earlier turns grouped into exchanges, each starting at a user turn (a leading model turn joins the first)."""
    groups: list[list[Turn]] = []
    for turn in turns:
        if turn.role == "user" or not groups:
            groups.append([turn])
        else:
            groups[-1].append(turn)
    return groups


def fit_conversation(
    history: Sequence[Turn],
    prompt: str,
    count_tokens: Callable[[str], int],
    problem: Callable[[int], str | None],
) -> FittedConversation:
    """The conversation `history` + the user's `prompt`, without as many of the oldest exchanges as it takes
    for `problem(tokens)` to find none. The new prompt itself is always kept (if it alone does not fit,
    generation says so). count_tokens(text) counts what the model reads, <bos> included."""
    exchanges = _exchanges(history)
    first_problem = None
    for dropped in range(len(exchanges) + 1):
        turns = [turn for exchange in exchanges[dropped:] for turn in exchange] + [Turn("user", prompt)]
        text = conversation_prompt(turns)
        tokens = count_tokens(text)
        why = problem(tokens) if dropped < len(exchanges) else None
        if why is None:
            return FittedConversation(text, tokens, dropped, len(exchanges), first_problem)
        first_problem = first_problem or why
    raise AssertionError("unreachable: the last candidate is always accepted")
