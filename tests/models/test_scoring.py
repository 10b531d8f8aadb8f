"""Continuation log-likelihoods from the decoder equal a direct computation with Keras-Hub's backbone;
batching changes nothing; multiple choice picks the likeliest choice."""

from __future__ import annotations

import numpy as np
import pytest
from model_fixtures import keras_logits

from gemma_jax.metrics import choice_scores
from gemma_jax.models.generation import Generator
from gemma_jax.models.loading import load_model
from gemma_jax.models.scoring import score_continuations

TEXTS = ["the quick brown fox jumps over the lazy dog", "pack my box with five dozen liquor jugs"] * 20


@pytest.fixture(scope="module", params=["gemma2", "gemma3"])
def model(request):
    model = load_model(f"tiny:{request.param}", vocab_texts=TEXTS, seed=3)
    rng = np.random.default_rng(3)  # zero norm scales would make every position alike
    for variable in model.backbone.variables:
        if variable.path.endswith("scale"):
            variable.assign(rng.normal(0.0, 1.0, variable.shape).astype("float32"))
    return model


def _direct_log_likelihood(model, prompt: str, continuation: str) -> tuple[float, list[float]]:
    """Sum and per-token log p(continuation | <bos> prompt) from the Keras backbone's full logits."""
    tokenizer = model.tokenizer
    prompt_ids = [tokenizer.bos_id, *tokenizer.encode(prompt)]
    continuation_ids = list(tokenizer.encode(continuation))
    ids = np.asarray([prompt_ids + continuation_ids], np.int32)
    logits = keras_logits(model, ids)[0].astype(np.float64)
    log_probs = (
        logits
        - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True))
        - logits.max(-1, keepdims=True)
    )
    per_token = [float(log_probs[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(continuation_ids)]
    return sum(per_token), per_token


def test_log_likelihoods_equal_the_keras_backbone(model):
    generator = Generator(model, max_length=128, weights="float32")
    prompts = ["the quick brown fox", "pack my box with five dozen liquor jugs and the lazy dog jumps over"]
    continuations = [" jumps over the lazy dog", " quick"]
    scores = score_continuations(generator, prompts, continuations, top_k=3)
    for score, prompt, continuation in zip(scores, prompts, continuations, strict=True):
        total, per_token = _direct_log_likelihood(model, prompt, continuation)
        np.testing.assert_allclose([t.log_prob for t in score.tokens], per_token, rtol=1e-4, atol=1e-4)
        assert score.log_likelihood == pytest.approx(total, rel=1e-4, abs=1e-4)
        for token in score.tokens:
            probabilities = [p for _, p in token.alternatives]
            assert probabilities == sorted(probabilities, reverse=True) and len(probabilities) == 3
            assert token.log_prob <= probabilities[0] + 1e-5


def test_batched_scores_equal_one_at_a_time(model):
    generator = Generator(model, max_length=128, weights="float32")
    prompts = ["the lazy dog", "how", "pack my box with five dozen liquor jugs " * 2]
    continuations = [" jumps", " quick brown fox", " and the fox"]
    together = score_continuations(generator, prompts, continuations, batch_size=8)
    alone = [score_continuations(generator, [p], [c])[0] for p, c in zip(prompts, continuations, strict=True)]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose([t.log_prob for t in a.tokens], [t.log_prob for t in b.tokens], atol=1e-5)


def test_multiple_choice_picks_the_highest_likelihood_choice(model):
    generator = Generator(model, max_length=128, weights="float32")
    question = "pack my box with five dozen"
    choices = [" liquor jugs", " lazy dogs", " quick zebras", " brown"]
    scores = score_continuations(generator, [question] * len(choices), choices)
    direct = [_direct_log_likelihood(model, question, choice)[0] for choice in choices]
    best = int(np.argmax(direct))
    assert choice_scores([[s.log_likelihood for s in scores]], [choices], [best])["accuracy"] == 1.0
    wrong = (best + 1) % len(choices)
    assert choice_scores([[s.log_likelihood for s in scores]], [choices], [wrong])["accuracy"] == 0.0


def test_a_too_long_pair_is_refused_with_what_to_do(model):
    generator = Generator(model, max_length=16, weights="float32")
    with pytest.raises(ValueError, match="more than the 16"):
        score_continuations(generator, ["the quick brown fox " * 4], [" jumps"])
