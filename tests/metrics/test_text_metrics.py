"""Each text metric equals its reference library's value on fixed predictions, including empty
predictions, other scripts and a one-example split."""

from __future__ import annotations

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from gemma_jax.metrics import corpus_text_scores, example_text_scores, normalize_answer
from gemma_jax.metrics.text import UnicodeWordTokenizer, exact_match, token_f1

PREDICTIONS = ["Arr, the capital be Oslo, matey!", "", "Paris is the capital of France.", "blue"]
REFERENCES = ["The capital be Oslo, matey.", "Forty-two.", "The capital of France is Paris.", "Blue!"]


def test_bleu_and_chrf_are_sacrebleus_corpus_scores():
    scores = corpus_text_scores(PREDICTIONS, REFERENCES, ("bleu", "chrf"))
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(PREDICTIONS, [REFERENCES]).score)
    assert 0 < scores["bleu"] < 100 and 0 < scores["chrf"] < 100


def test_rouge_is_rouge_scores_mean_f_measure_on_latin_text():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])  # its own tokenizer
    expected = {name: 0.0 for name in ("rouge1", "rouge2", "rougeL")}
    for prediction, reference in zip(PREDICTIONS, REFERENCES, strict=True):
        for name, score in scorer.score(reference, prediction).items():
            expected[name] += score.fmeasure / len(PREDICTIONS)
    scores = corpus_text_scores(PREDICTIONS, REFERENCES, ("rouge1", "rouge2", "rougeL"))
    assert scores == pytest.approx(expected)


def test_rouge_counts_words_of_other_scripts():
    """rouge-score's default tokenizer drops every non-ASCII letter (a Russian answer would score 0
    against anything); ours keeps them and equals rouge-score given the same tokenizer."""
    prediction, reference = "столица норвегии осло", "Столица Норвегии — Осло."
    default = rouge_scorer.RougeScorer(["rouge1"]).score(reference, prediction)["rouge1"].fmeasure
    assert default == 0.0
    ours = example_text_scores(prediction, reference, ("rouge1", "rougeL"))
    unicode_scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], tokenizer=UnicodeWordTokenizer())
    expected = unicode_scorer.score(reference, prediction)
    assert ours["rouge1"] == pytest.approx(expected["rouge1"].fmeasure) == pytest.approx(1.0)
    assert ours["rougeL"] == pytest.approx(expected["rougeL"].fmeasure)


def test_unicode_and_one_example_splits():
    prediction, reference = ["東京は日本の首都です。"], ["日本の首都は東京です。"]
    scores = corpus_text_scores(prediction, reference)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(prediction, [reference]).score)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(prediction, [reference]).score)
    assert scores["exact_match"] == 0.0 and scores["mean_length"] == 1.0


def test_empty_predictions_score_zero_not_an_error():
    scores = corpus_text_scores(["", ""], ["an answer", "another"])
    assert scores["bleu"] == sacrebleu.corpus_bleu(["", ""], [["an answer", "another"]]).score == 0.0
    assert scores["rouge1"] == scores["f1"] == scores["exact_match"] == scores["mean_length"] == 0.0
    assert corpus_text_scores([], []) == {}
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        corpus_text_scores(["a", "b"], ["a"])


def test_exact_match_and_f1_follow_squad():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert exact_match("the eiffel tower.", "Eiffel Tower") == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0
    # SQuAD token F1: prediction "eiffel" vs reference "eiffel tower": P=1, R=1/2, F1=2/3
    assert token_f1("Eiffel", "the Eiffel Tower") == pytest.approx(2 / 3)
    assert token_f1("x b b c", "b b d") == pytest.approx(2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0 and token_f1("the", "a") == 1.0
    scores = corpus_text_scores(PREDICTIONS, REFERENCES, ("exact_match", "f1"))
    expected_f1 = sum(token_f1(p, r) for p, r in zip(PREDICTIONS, REFERENCES, strict=True)) / 4
    assert scores == pytest.approx({"exact_match": 0.25, "f1": expected_f1})


def test_sentence_scores_are_sacrebleus_sentence_scores():
    scores = example_text_scores(PREDICTIONS[0], REFERENCES[0], ("bleu", "chrf", "mean_length"))
    assert scores["bleu"] == pytest.approx(sacrebleu.sentence_bleu(PREDICTIONS[0], [REFERENCES[0]]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.sentence_chrf(PREDICTIONS[0], [REFERENCES[0]]).score)
    assert scores["mean_length"] == 6.0
