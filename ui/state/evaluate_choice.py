"""A report's multiple-choice results (`gemma-jax evaluate --choices FILE`), for their own section of the
Evaluate page (no Panel).

gemma_jax.evaluate.evaluation writes `choice` = {"file", "questions", "tuned": {...}, "base": {...}},
each model's {"accuracy", "accuracy_norm", "picked", "picked_norm"}: the choice with the highest
log-likelihood, and with the highest log-likelihood per character of the choice (long answers are
not at a disadvantage). An evaluation interrupted during the base model has the tuned model's only.
"""

from __future__ import annotations

import math
from pathlib import PurePath

from ui.state.evaluate_report import metric_card

MEASURES = {"accuracy": "accuracy", "accuracy_norm": "length-normalised accuracy"}
MODEL_WORDS = {"tuned": "fine-tuned", "base": "base"}


def _choice(report: dict | None) -> dict:
    choice = (report or {}).get("choice")
    return choice if isinstance(choice, dict) else {}


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def choice_cards(report: dict | None) -> list[dict]:
    """A metric card (ui.state.evaluate_report.metric_card) per accuracy, fine-tuned against base."""
    choice = _choice(report)
    cards = []
    for key, label in MEASURES.items():
        tuned = _number((choice.get("tuned") or {}).get(key))
        base = _number((choice.get("base") or {}).get(key))
        if tuned is None:
            continue
        change = tuned - base if base is not None else None
        cards.append({**metric_card("accuracy", tuned, base, change), "name": label})
    return cards


def _right(scores: dict, questions: int) -> str | None:
    accuracy = _number(scores.get("accuracy"))
    if accuracy is None or not questions:
        return None
    return f"{round(accuracy * questions):,d} of {questions:,d}"


def choice_facts(report: dict | None) -> list[tuple[str, str]]:
    """(label, text): how many questions, from which file (its name: never a server path), how many
    each model got right, and on how many the two models picked different answers."""
    choice = _choice(report)
    if not choice:
        return []
    questions = choice.get("questions")
    questions = questions if isinstance(questions, int) and not isinstance(questions, bool) else 0
    facts = [("Questions", f"{questions:,d}")]
    if isinstance(choice.get("file"), str) and choice["file"]:
        facts.append(("File", PurePath(choice["file"]).name))
    for model, words in MODEL_WORDS.items():
        right = _right(choice.get(model) or {}, questions)
        if right:
            facts.append((f"Right ({words})", right))
    tuned, base = (choice.get(m) or {} for m in MODEL_WORDS)
    picked, base_picked = tuned.get("picked"), base.get("picked")
    if isinstance(picked, list) and isinstance(base_picked, list) and len(picked) == len(base_picked):
        differ = sum(1 for a, b in zip(picked, base_picked, strict=True) if a != b)
        facts.append(("Answered differently", f"{differ:,d} question{'s' if differ != 1 else ''}"))
    return facts


def has_choice(report: dict | None) -> bool:
    scores = _choice(report).get("tuned") or {}
    return _number(scores.get("accuracy")) is not None and not math.isnan(scores["accuracy"])
