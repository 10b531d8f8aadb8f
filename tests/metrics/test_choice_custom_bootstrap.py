"""Multiple choice picks, custom metrics that fail alone, and paired bootstrap intervals."""

from __future__ import annotations

import pytest

from gemma_jax.metrics import choice_scores, compare_predictions, custom_scores, mean_difference_interval


def test_multiple_choice_picks_the_most_likely_choice_and_the_normalised_one():
    choices = [["Oslo", "Stockholm and surrounding areas"], ["red", "blue", "green"]]
    log_likelihoods = [[-6.0, -9.0], [-3.0, -1.0, -2.0]]
    # normalised by characters: Oslo -6/4=-1.5, long choice -9/31=-0.29 -> picks the long one
    scores = choice_scores(log_likelihoods, choices, [0, 1])
    assert scores == {"accuracy": 1.0, "accuracy_norm": 0.5}
    with pytest.raises(ValueError, match="one log-likelihood per choice"):
        choice_scores([[-1.0]], [["a", "b"]], [0])


def test_a_custom_metric_that_raises_leaves_the_others(tmp_path):
    (tmp_path / "my_metrics.py").write_text(
        "def length_ok(prediction, reference, example):\n"
        "    return float(len(prediction) <= 2 * len(reference))\n"
        "def both(prediction, reference, example):\n"
        "    return {'starts_right': float(prediction[:1] == reference[:1]), 'has_id': float('id' in example)}\n"
        "def broken(prediction, reference, example):\n"
        "    return 1 / 0\n"
    )
    specs = ["my_metrics:length_ok", "my_metrics:broken", "my_metrics:both", "no_such_module:x", "bad"]
    rows, errors = custom_scores(specs, ["ab", "xyz"], ["ab", "a"], [{"id": 1}, {}], search_path=[tmp_path])
    assert rows == [
        {"length_ok": 1.0, "starts_right": 1.0, "has_id": 1.0},
        {"length_ok": 0.0, "starts_right": 0.0, "has_id": 0.0},
    ]
    assert "ZeroDivisionError" in errors["my_metrics:broken"]
    assert "could not be loaded" in errors["no_such_module:x"]
    assert "module:function" in errors["bad"]
    assert set(errors) == {"my_metrics:broken", "no_such_module:x", "bad"}


def test_the_interval_brackets_the_difference_and_is_reproducible():
    tuned = [0.9, 0.8, 0.7, 0.95, 0.6, 0.85, 0.9, 0.75]
    base = [0.5, 0.6, 0.4, 0.7, 0.65, 0.5, 0.55, 0.6]
    low, high = mean_difference_interval(tuned, base)
    delta = sum(tuned) / 8 - sum(base) / 8
    assert low < delta < high and low > 0  # a clear gain's interval excludes zero
    assert (low, high) == mean_difference_interval(tuned, base)
    assert mean_difference_interval([1.0], [0.0]) is None


def test_tuned_against_base_side_by_side():
    references = ["Oslo is the capital.", "Paris is the capital.", "Rome is the capital."]
    tuned = ["Oslo is the capital.", "Paris is the capital.", "Rome was the capital."]
    base = ["I do not know.", "Maybe Lyon.", "Rome is the capital."]
    result = compare_predictions(("chrf", "rougeL", "exact_match"), tuned, base, references, resamples=100)
    assert result["tuned"]["exact_match"] == pytest.approx(2 / 3) and result["base"]["exact_match"] == pytest.approx(
        1 / 3
    )
    assert result["delta"]["chrf"] == pytest.approx(result["tuned"]["chrf"] - result["base"]["chrf"])
    low, high = result["interval"]["chrf"]
    assert low <= result["delta"]["chrf"] <= high
    assert len(result["per_example"]) == 3 and result["per_example"][0]["tuned"]["exact_match"] == 1.0
    labels = compare_predictions(("accuracy", "macro_f1"), ["yes", "no"], ["no", "no"], ["yes", "no"], resamples=50)
    assert labels["tuned"]["accuracy"] == 1.0 and labels["base"]["accuracy"] == 0.5
    assert labels["classification"]["base"]["confusion"] == [[1, 0], [1, 0]]


def test_a_second_folder_with_a_metric_module_of_the_same_name_gets_its_own(tmp_path):
    for name, value in (("a", 1.0), ("b", 2.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "same_name_metrics.py").write_text(f"def score(p, r, e):\n    return {value}\n")
    first = custom_scores(["same_name_metrics:score"], ["x"], ["x"], [{}], search_path=[tmp_path / "a"])[0]
    second = custom_scores(["same_name_metrics:score"], ["x"], ["x"], [{}], search_path=[tmp_path / "b"])[0]
    assert first == [{"score": 1.0}] and second == [{"score": 2.0}]
