"""Scores of generated text against a reference: BLEU and chrF (sacrebleu), ROUGE (rouge-score),
exact match and token F1 (SQuAD's normalisation), mean length.

Corpus scores are what a report shows; per-example scores feed the per-example table and
the bootstrap. BLEU and chrF are on sacrebleu's 0-100 scale, the rest in 0-1.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
TEXT_METRICS = ("bleu", "chrf", *ROUGE_TYPES, "exact_match", "f1", "mean_length")


class UnicodeWordTokenizer:
    """rouge-score's own tokenizer keeps only a-z and 0-9, so any other script scores 0; this keeps
    letters and digits of every script (for ASCII text it gives rouge-score's tokens)."""

    _word = re.compile(r"[^\W_]+")

    def tokenize(self, text: str) -> list[str]:
        return self._word.findall(text.lower())


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=UnicodeWordTokenizer())


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD's token F1 of the normalised texts (1.0 when both are empty)."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def rouge(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F-measure of one prediction."""
    scores = _rouge_scorer().score(reference, prediction)
    return {name: float(scores[name].fmeasure) for name in ROUGE_TYPES}


def example_text_scores(prediction: str, reference: str, names: Sequence[str] = TEXT_METRICS) -> dict[str, float]:
    """The per-example value of each text metric in `names` (sentence BLEU/chrF for BLEU/chrF)."""
    import sacrebleu

    scores: dict[str, float] = {}
    if "bleu" in names:
        scores["bleu"] = float(sacrebleu.sentence_bleu(prediction, [reference]).score)
    if "chrf" in names:
        scores["chrf"] = float(sacrebleu.sentence_chrf(prediction, [reference]).score)
    if any(name in names for name in ROUGE_TYPES):
        scores.update({k: v for k, v in rouge(prediction, reference).items() if k in names})
    if "exact_match" in names:
        scores["exact_match"] = exact_match(prediction, reference)
    if "f1" in names:
        scores["f1"] = token_f1(prediction, reference)
    if "mean_length" in names:
        scores["mean_length"] = float(len(prediction.split()))
    return scores


def corpus_text_scores(
    predictions: Sequence[str], references: Sequence[str], names: Sequence[str] = TEXT_METRICS
) -> dict[str, float]:
    """Each text metric over the whole split: corpus BLEU/chrF, the mean of the per-example rest."""
    import sacrebleu

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        return {}
    scores: dict[str, float] = {}
    if "bleu" in names:
        scores["bleu"] = float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)
    if "chrf" in names:
        scores["chrf"] = float(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score)
    rest = [name for name in names if name not in ("bleu", "chrf") and name in TEXT_METRICS]
    if rest:
        rows = [example_text_scores(p, r, rest) for p, r in zip(predictions, references, strict=True)]
        scores.update({name: sum(row[name] for row in rows) / len(rows) for name in rest})
    return scores
