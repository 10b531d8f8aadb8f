"""Multiple-choice files: every answer form read, bad records named, and the likeliest choice picked."""

from __future__ import annotations

import json

import pytest

from gemma_jax.data.errors import DataError
from gemma_jax.evaluate.choices import ChoiceQuestion, read_choice_questions, score_choice_questions


def test_answers_by_index_letter_or_text_and_csv_lists(tmp_path):
    rows = [
        {"question": "2+2?", "choices": ["3", "4"], "answer": 1},
        {"question": "Capital of Norway?", "choices": ["Oslo", "Bergen", "Tromsø"], "answer": "A"},
        {"question": "Colour of the sky?", "choices": ["green", "blue"], "answer": "blue"},
    ]
    (tmp_path / "mc.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    questions = read_choice_questions(str(tmp_path / "mc.jsonl"))
    assert [q.answer for q in questions] == [1, 0, 1] and questions[1].choices[2] == "Tromsø"
    (tmp_path / "mc.csv").write_text('question,choices,answer\n"2+2?","[""3"", ""4""]",1\n')
    assert read_choice_questions(str(tmp_path / "mc.csv")) == [ChoiceQuestion("2+2?", ("3", "4"), 1)]


def test_bad_records_are_named_with_what_to_fix(tmp_path):
    rows = [
        {"question": "", "choices": ["a", "b"], "answer": 0},
        {"question": "q", "choices": ["only one"], "answer": 0},
        {"question": "q", "choices": ["a", "b"], "answer": "Z"},
        {"question": "q", "choices": ["a", "b"], "answer": 0},
    ]
    (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError) as error:
        read_choice_questions(str(tmp_path / "bad.jsonl"))
    message = str(error.value)
    assert "line 1" in message and "'question'" in message
    assert "line 2" in message and "2 to 26" in message
    assert "line 3" in message and "'answer'" in message and "line 4" not in message


def test_the_likeliest_choice_is_picked_per_model():
    questions = [ChoiceQuestion("q1", ("a", "bbbbbbbb"), 1), ChoiceQuestion("q2", ("x", "y", "z"), 2)]
    likelihood = {" a": -1.0, " bbbbbbbb": -2.0, " x": -5.0, " y": -4.0, " z": -0.5}

    def scorer(prompts, continuations):
        assert prompts == ["q1", "q1", "q2", "q2", "q2"]
        return [likelihood[c] for c in continuations]

    result = score_choice_questions(scorer, questions)
    assert result["picked"] == [0, 2] and result["picked_norm"] == [1, 2]
    assert result["accuracy"] == 0.5 and result["accuracy_norm"] == 1.0
