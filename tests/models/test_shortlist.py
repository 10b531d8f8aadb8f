"""The int8 shortlist head picks exactly the float32 head's greedy token: bounds, ties, fallback."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gemma_jax.models.decoding import shortlist as shortlist_module
from gemma_jax.models.decoding.matrix import Matrix
from gemma_jax.models.decoding.shortlist import CANDIDATES, ShortlistHead, contenders, exact_greedy

VOCAB, HIDDEN = 4096, 64


def _head(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Heavy-tailed rows, as trained embeddings have: int8 absmax scaling is coarse for them.
    return (rng.standard_t(3, (VOCAB, HIDDEN)) * 0.05).astype(np.float32)


def _greedy(head: np.ndarray, hidden: np.ndarray, vocabulary: int | None = None) -> np.ndarray:
    matrix = Matrix(jnp.asarray(head))
    pick = jax.jit(lambda m, s, h: exact_greedy(m, s, h, vocabulary))
    return np.asarray(pick(matrix, jax.jit(ShortlistHead.pack)(jnp.asarray(head)), jnp.asarray(hidden)))


def _contenders(head: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """How many tokens each row must rescore: more than CANDIDATES means the full-head fallback."""
    packed = ShortlistHead.pack(jnp.asarray(head))
    return np.asarray(contenders(Matrix(jnp.asarray(head)), packed, jnp.asarray(hidden), None)).sum(-1)


def _float32_argmax(head: np.ndarray, hidden: np.ndarray, vocabulary: int | None = None) -> np.ndarray:
    logits = np.array(Matrix(jnp.asarray(head)).apply(jnp.asarray(hidden)))
    if vocabulary is not None:
        logits[:, vocabulary:] = -np.inf
    return logits.argmax(-1)


def test_error_bound_holds_for_every_row():
    head = _head()
    hidden = np.random.default_rng(1).normal(0, 3, (16, HIDDEN)).astype(np.float32)
    packed = ShortlistHead.pack(jnp.asarray(head))
    approx = np.asarray(packed.int8.apply(jnp.asarray(hidden)), np.float64)
    exact = hidden.astype(np.float64) @ head.astype(np.float64).T
    bound = np.linalg.norm(hidden, axis=-1, keepdims=True) * np.asarray(packed.error)[None, :]
    assert np.all(np.abs(exact - approx) <= bound)
    assert np.median(bound) < 0.1 * np.abs(exact).max()  # a bound, and not a useless one


def test_greedy_equals_the_float32_head_on_many_hidden_states():
    head = _head()
    rng = np.random.default_rng(2)
    # Rows near a head row give a clear leader; noise gives crowded tops, where the fallback runs.
    near = head[rng.integers(0, VOCAB, 48)] * 40 + rng.normal(0, 0.5, (48, HIDDEN))
    noise = rng.normal(0, 1, (48, HIDDEN))
    counts = []
    for hidden in (near.astype(np.float32), noise.astype(np.float32)):
        for rows in np.split(hidden, 12):
            assert (_greedy(head, rows) == _float32_argmax(head, rows)).all()
            counts.append(_contenders(head, rows).max())
    # Answered from the shortlist (no fallback), and rescoring mattered: rows with several contenders.
    assert 1 < max(counts) <= CANDIDATES


def test_ties_go_to_the_lowest_id_as_argmax_does():
    head = _head()
    head[3000] = head[17] = head[900]  # three identical rows
    hidden = head[900:901] * 50
    assert _float32_argmax(head, hidden)[0] == 17
    assert _greedy(head, hidden)[0] == 17


def test_ids_past_the_vocabulary_are_never_chosen():
    head = _head()
    head[4000] *= 10
    hidden = head[4000:4001] * 5  # its own row would win
    assert _greedy(head, hidden)[0] == 4000
    chosen = _greedy(head, hidden, vocabulary=1000)[0]
    assert chosen < 1000 and chosen == _float32_argmax(head, hidden, vocabulary=1000)[0]


def test_a_crowded_top_falls_back_to_the_full_head():
    # Rows that differ below int8's resolution: far more candidates than the shortlist holds.
    rng = np.random.default_rng(3)
    base = rng.normal(0, 0.05, HIDDEN).astype(np.float32)
    head = base + rng.normal(0, 1e-5, (VOCAB, HIDDEN)).astype(np.float32)
    hidden = (base * 30)[None, :]
    assert _contenders(head, hidden)[0] > CANDIDATES
    assert _greedy(head, hidden)[0] == _float32_argmax(head, hidden)[0]


@pytest.mark.parametrize("candidates", [1, 8])
def test_small_candidate_lists_stay_exact(monkeypatch, candidates):
    monkeypatch.setattr(shortlist_module, "CANDIDATES", candidates)
    head = _head(5)
    hidden = np.random.default_rng(4).normal(0, 2, (8, HIDDEN)).astype(np.float32)
    assert (_greedy(head, hidden) == _float32_argmax(head, hidden)).all()


def test_a_bfloat16_head_gets_the_tokens_its_own_rows_give():
    """A bf16 head (a bf16 model's) is shortlisted against its bf16 rows, not the float32 ones it came from."""
    head = _head(6)
    low = jnp.asarray(head, jnp.bfloat16)
    rng = np.random.default_rng(7)
    hidden = np.concatenate([head[rng.integers(0, VOCAB, 24)] * 40, rng.normal(0, 1, (24, HIDDEN))]).astype(np.float32)
    pick = jax.jit(lambda m, s, h: exact_greedy(m, s, h, None))
    chosen = np.asarray(pick(Matrix(low), jax.jit(ShortlistHead.pack)(low), jnp.asarray(hidden)))
    expected = np.asarray(Matrix(low).apply(jnp.asarray(hidden))).argmax(-1)
    np.testing.assert_array_equal(chosen, expected)


def test_bfloat16_decoder_weights_carry_a_shortlist_of_their_own_head(monkeypatch):
    from gemma_jax.models.generation import Generator
    from gemma_jax.models.loading import load_model

    model = load_model("tiny:gemma3", dtype="bfloat16", vocab_texts=["a b c d e f g"] * 20)
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    generator = Generator(model, max_length=48)
    assert generator.weight_dtype == "bfloat16" and generator.weights.shortlist
    full = Generator(model, max_length=48, shortlist=False)
    ids = [2, 10, 11, 12, 13]
    assert generator.generate_token_ids([ids], 24, stop_ids=())[0] == full.generate_token_ids([ids], 24, stop_ids=())[0]
