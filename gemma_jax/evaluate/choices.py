"""Multiple-choice evaluation (MMLU/HellaSwag style) from a local file of questions: each choice is
scored by the model's log-likelihood of it after the question, for the tuned and the base model.

The file is any format the data readers take (JSONL, CSV, ...), read within the same limits; each
record has `question`, `choices` (a list, or a JSON list in a CSV cell) and `answer` (the right
choice's index, its letter A-Z, or its text)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.errors import DataError, raise_problems
from gemma_jax.data.reader_registry import open_records
from gemma_jax.data.readers import resolve_path
from gemma_jax.metrics import choice_predictions, choice_scores

MAX_CHOICES = 26  # answers may be letters A-Z


@dataclass(frozen=True)
class ChoiceQuestion:
    question: str
    choices: tuple[str, ...]
    answer: int


def _choices(value) -> list[str] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list) or not all(isinstance(c, str | int | float) for c in value):
        return None
    return [str(c) for c in value]


def _answer(value, choices: Sequence[str]) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer() and 0 <= int(value) < len(choices):
        return int(value)
    text = str(value).strip()
    if text.isdigit() and int(text) < len(choices):
        return int(text)
    if len(text) == 1 and text.isalpha() and ord(text.upper()) - ord("A") < len(choices):
        return ord(text.upper()) - ord("A")
    return choices.index(text) if text in choices else None


def read_choice_questions(path: str) -> list[ChoiceQuestion]:
    """Every question of `path`, or one DataError listing the records to fix."""
    src = open_records(resolve_path(path), path, DataConfig(train_path=path))
    questions, problems = [], []
    for number, fields in src.records:
        question, choices = fields.get("question"), _choices(fields.get("choices"))
        if not isinstance(question, str) or not question.strip():
            problems.append(f"{src.unit} {number}: give the question as text in a 'question' field")
        elif choices is None or not 2 <= len(choices) <= MAX_CHOICES:
            problems.append(f"{src.unit} {number}: 'choices' must be a list of 2 to {MAX_CHOICES} answers")
        elif (answer := _answer(fields.get("answer"), choices)) is None:
            problems.append(f"{src.unit} {number}: 'answer' must be the right choice's index (0-based), letter or text")
        else:
            questions.append(ChoiceQuestion(question, tuple(choices), answer))
    raise_problems(path, [p.text() for p in src.problems if p.severity == "error"] + problems)
    if not questions:
        raise DataError(f"{path} has no questions; each record needs question, choices and answer", path=path)
    return questions


def score_choice_questions(scorer, questions: Sequence[ChoiceQuestion]) -> dict:
    """{"accuracy", "accuracy_norm", "picked", "picked_norm"} of one model; `scorer(prompts, continuations)`
    gives each continuation's log-likelihood (see gemma_jax.models.scoring)."""
    prompts = [q.question for q in questions for _ in q.choices]
    continuations = [" " + choice.strip() for q in questions for choice in q.choices]
    likelihoods = list(scorer(prompts, continuations))
    grouped, first = [], 0
    for question in questions:
        grouped.append(likelihoods[first : first + len(question.choices)])
        first += len(question.choices)
    choices = [q.choices for q in questions]
    return {
        **choice_scores(grouped, choices, [q.answer for q in questions]),
        **choice_predictions(grouped, choices),
    }


def write_choice_file(path: Path, questions: Sequence[ChoiceQuestion]) -> Path:
    """Questions as JSONL (tests and examples)."""
    lines = [json.dumps({"question": q.question, "choices": list(q.choices), "answer": q.answer}) for q in questions]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
