"""Multiple-choice results on the Evaluate page: accuracy and length-normalised accuracy of both models
as metric cards in a section of their own (not among the task metrics), with the questions' count,
each model's right answers and how often the two differ; nothing shown for a report without them.

The `choice` block is made the way gemma_jax.evaluate.evaluation makes it: score_choice_questions
over real questions, with a scorer standing in for each model's log-likelihoods."""

from __future__ import annotations

import html
import sys
from pathlib import Path

from test_evaluate_state import text_report, write_report
from test_injection import IMG, assert_literal
from ui_helpers import make_session

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import untrained_run

from gemma_jax.evaluate.choices import ChoiceQuestion, score_choice_questions
from ui.state.evaluate import EvaluateState
from ui.state.evaluate_choice import choice_cards, choice_facts
from ui.views.evaluate import EvaluatePage

QUESTIONS = [
    ChoiceQuestion("2 + 2?", ("3", "4", "five"), 1),
    ChoiceQuestion("Capital of France?", ("Paris", "Lyon"), 0),
    ChoiceQuestion("Colour of the sky?", ("green", "a very light blue"), 1),
    ChoiceQuestion("Opposite of hot?", ("cold", "warm"), 0),
]


def scorer(favourite: list[int], long_bonus: float = 0.0):
    """Log-likelihoods that prefer choice `favourite[q]` of question q (the length bonus favours long
    choices in total, but not per character)."""

    def score(prompts, continuations):
        scores, position = [], 0
        for number, question in enumerate(QUESTIONS):
            for choice in range(len(question.choices)):
                text = continuations[position + choice]
                scores.append(
                    (-1.0 if choice == favourite[number] else -3.0) - 0.1 * len(text) + long_bonus * len(text)
                )
            position += len(question.choices)
        return scores

    return score


def choice_report(file: str = "/srv/data/questions.jsonl", base: bool = True, **changes) -> tuple[dict, list[dict]]:
    """text_report with the multiple-choice results evaluation.py adds for `--choices FILE`."""
    choice = {"tuned": score_choice_questions(scorer([1, 0, 1, 1]), QUESTIONS)}  # 3 of 4 right
    if base:
        choice["base"] = score_choice_questions(scorer([0, 0, 0, 1], long_bonus=1.0), QUESTIONS)
    report, rows = text_report(partial=False, **changes)
    report["choice"] = {"file": file, "questions": len(QUESTIONS), **choice}
    for name, scores in choice.items():
        report[name].update({f"choice_{key}": scores[key] for key in ("accuracy", "accuracy_norm")})
    if base:
        for key in ("accuracy", "accuracy_norm"):
            report["delta"][f"choice_{key}"] = choice["tuned"][key] - choice["base"][key]
    return report, rows


def test_both_accuracies_are_cards_of_their_own(tmp_path):
    report, rows = choice_report()
    assert report["choice"]["base"]["picked"] == [2, 0, 1, 1]  # the long choices win in total...
    assert report["choice"]["base"]["picked_norm"] == [0, 0, 0, 1]  # ...not per character
    session = make_session(tmp_path)
    write_report(untrained_run(tmp_path, runs_dir=session.workspace.runs_dir), report, rows)
    state = EvaluateState(session)
    assert [card["name"] for card in state.cards()] == ["loss", "perplexity", "rougeL"]  # no choice_* among them
    accuracy, normalised = state.choice_cards()
    assert accuracy["name"] == "accuracy" and normalised["name"] == "length-normalised accuracy"
    assert (accuracy["tuned"], accuracy["base"], accuracy["delta"], accuracy["verdict"]) == (
        "0.7500",
        "0.5000",
        "+0.2500",
        "better",
    )
    assert (normalised["base"], normalised["verdict"], normalised["sign"]) == ("0.2500", "better", 1)
    assert state.choice_facts() == [
        ("Questions", "4"),
        ("File", "questions.jsonl"),  # its name only: no server path
        ("Right (fine-tuned)", "3 of 4"),
        ("Right (base)", "2 of 4"),
        ("Answered differently", "1 question"),
    ]

    page = EvaluatePage(session, state)
    shown = html.unescape(page.choice.object)
    assert page.choice.visible and "Multiple choice" in shown and "/srv/data" not in shown
    assert shown.count('class="gj-metric-card gj-metric-better"') == 2 and "length-normalised accuracy" in shown
    assert "choice_accuracy" not in page.summary.object


def test_an_interrupted_base_and_no_choices_at_all(tmp_path):
    report, _rows = choice_report(base=False)
    (card, _normalised) = choice_cards(report)
    assert (card["tuned"], card["base"], card["delta"], card["verdict"]) == ("0.7500", "-", "-", None)
    assert ("Right (base)", "2 of 4") not in choice_facts(report) and len(choice_facts(report)) == 3
    plain, _ = text_report()
    assert choice_cards(plain) == [] and choice_facts(plain) == []
    assert choice_cards({"choice": {"tuned": {"accuracy": "n/a"}}}) == []  # damaged: nothing, not an error

    session = make_session(tmp_path)
    write_report(untrained_run(tmp_path, runs_dir=session.workspace.runs_dir), plain, _rows)
    page = EvaluatePage(session)
    assert not page.choice.visible and page.choice.object == ""


def test_a_hostile_file_name_stays_text(tmp_path):
    session = make_session(tmp_path)
    write_report(untrained_run(tmp_path, runs_dir=session.workspace.runs_dir), *choice_report(file=f"q/{IMG}.csv"))
    page = EvaluatePage(session)
    assert_literal([page.choice], f"{IMG}.csv", "Right (fine-tuned)")
