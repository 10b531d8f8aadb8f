"""DPO: pair batches, per-token chunked log-probs, and the loss against a full-logits reference."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dpo_helpers import TRAIN_TOPICS, make_pairs, pair_texts
from engine_helpers import fast_config
from training_helpers import full_target_log_probs, random_head_inputs

from gemma_jax.data.preference_batches import PreferenceBatchIterator, tokenize_pairs
from gemma_jax.models.loading import load_model
from gemma_jax.train.chunked_loss import chunked_cross_entropy, chunked_token_log_probs
from gemma_jax.train.dpo_loss import dpo_sums, lora_b_mask, lora_off, make_sequence_log_probs
from gemma_jax.train.dpo_step import DPO_KEYS
from gemma_jax.train.setup import build_training

SEQ = 192  # two pairs of ~80 positions fit a row
BETA = 0.5


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny Gemma 3 with LoRA on three projections, and a packed batch of 8 pairs."""
    pairs = make_pairs(TRAIN_TOPICS[:4], seed=3)
    model = load_model("tiny:gemma3", vocab_texts=pair_texts(make_pairs(TRAIN_TOPICS)))
    cfg = fast_config(
        tmp_path_factory.mktemp("dpo"),
        "method.kind=dpo",
        f"method.dpo_beta={BETA}",
        "method.lora_targets=[query,value,ffw_linear]",
    )
    setup = build_training(cfg, model, total_steps=4, devices=jax.devices()[:1])
    tokens = tokenize_pairs(pairs, model.tokenizer, SEQ)
    iterator = PreferenceBatchIterator(tokens, sequence_length=SEQ, batch_size=8, seed=0, shuffle=False)
    return setup, tokens, iterator, iterator.batch_at(0, 0)


def test_pairs_are_packed_side_by_side_with_loss_on_the_final_reply_only(tiny):
    setup, tokens, iterator, batch = tiny
    assert batch["num_pairs"] == len(tokens) == 8
    assert (batch["example_ids"] >= 0).sum(1).max() >= 2, "short pairs share a row"
    tokenizer = setup.model.tokenizer
    for row, pair_ids in enumerate(batch["example_ids"]):
        for rank, index in enumerate(i for i in pair_ids if i >= 0):
            for side, sequence in enumerate((tokens[index].chosen, tokens[index].rejected)):
                where = batch["segment_ids"][row] == 2 * rank + 1 + side
                assert batch["token_ids"][row][where].tolist() == sequence.ids[:-1].tolist()
                assert batch["positions"][row][where].tolist() == list(range(len(sequence) - 1))
                learned = batch["targets"][row][where][batch["loss_mask"][row][where]]
                reply = tokenizer.decode(learned.tolist())
                assert reply.startswith(("gladly", "of course", "happy") if side == 0 else ("ugh", "whatever", "no"))
    # loss_pair slots: each pair's tokens land in two slots of its group, chosen then rejected.
    assert batch["pair_valid"].sum() == 8 and batch["loss_pair"].max() < 2 * iterator.pair_slots


def test_pair_iterator_position_restores_like_the_sft_iterator(tiny):
    tokenizer = tiny[0].model.tokenizer
    tokens = tokenize_pairs(make_pairs(TRAIN_TOPICS, seed=1), tokenizer, 64)
    iterator = PreferenceBatchIterator(tokens, sequence_length=64, batch_size=4, seed=5, num_epochs=2)
    for _ in range(iterator.steps_per_epoch + 1):
        next(iterator)
    state = iterator.state()
    expected = next(iterator)
    resumed = PreferenceBatchIterator(tokens, sequence_length=64, batch_size=4, seed=5, num_epochs=2)
    resumed.restore(state)
    again = next(resumed)
    for key in ("token_ids", "segment_ids", "loss_pair", "pair_valid", "example_ids"):
        assert np.array_equal(again[key], expected[key]), key


@pytest.mark.parametrize("soft_cap", [None, 30.0])
def test_chunked_token_log_probs_match_full_logits(soft_cap):
    rng = np.random.RandomState(0)
    hidden, embedding, targets, valid = random_head_inputs(rng)
    weights = jnp.asarray(rng.randn(50), jnp.float32)  # a per-token cotangent, as DPO's segment sums give

    def reference(h, e):
        return jnp.where(valid, full_target_log_probs(h, e, targets, soft_cap), 0.0)

    def ours(h, e):
        return chunked_token_log_probs(h, e, targets, valid, soft_cap=soft_cap, chunk_size=128)

    np.testing.assert_allclose(ours(hidden, embedding), reference(hidden, embedding), atol=1e-5)
    summed = -chunked_cross_entropy(hidden, embedding, targets, valid, soft_cap=soft_cap, chunk_size=128)[0]
    np.testing.assert_allclose(ours(hidden, embedding).sum(), summed, rtol=1e-6)
    grads = [
        jax.grad(lambda h, e, f=f: jnp.sum(f(h, e) * weights), (0, 1))(hidden, embedding) for f in (ours, reference)
    ]
    for ours_grad, ref_grad in zip(*grads):
        np.testing.assert_allclose(ours_grad, ref_grad, atol=1e-5)


def _full_logits_dpo(setup, tokens, trainable, frozen):
    """DPO the plain way: each sequence alone through Keras-Hub's backbone, [N, L, vocab] logits."""
    model, is_b = setup.model, lora_b_mask(setup.decoder)
    sequences = [s for pair in tokens for s in (pair.chosen, pair.rejected)]
    length = max(len(s) for s in sequences)
    ids = np.zeros((len(sequences), length), "int32")
    loss = np.zeros((len(sequences), length), bool)
    mask = np.zeros((len(sequences), length), bool)
    for i, s in enumerate(sequences):
        ids[i, : len(s)], loss[i, : len(s)], mask[i, : len(s)] = s.ids, s.loss, True

    def sequence_log_probs(weights):
        hidden, _ = model.backbone.stateless_call(weights, frozen, {"token_ids": ids, "padding_mask": mask})
        logits = hidden @ frozen[0].T  # the tied embedding is the first frozen variable
        cap = model.final_logit_soft_cap
        if cap:
            logits = jnp.tanh(logits / cap) * cap
        picked = jnp.take_along_axis(jax.nn.log_softmax(logits[:, :-1], -1), ids[:, 1:, None], -1)[..., 0]
        return (picked * loss[:, 1:]).sum(1).reshape(-1, 2)

    policy = sequence_log_probs(trainable)
    reference = jax.lax.stop_gradient(sequence_log_probs(lora_off(trainable, is_b)))
    rewards = BETA * (policy - reference)
    margin = rewards[:, 0] - rewards[:, 1]
    return jnp.mean(-jax.nn.log_sigmoid(margin)), margin


def test_dpo_loss_and_gradients_match_full_logits_reference(tiny):
    setup, tokens, _, batch = tiny
    decoder = setup.decoder
    rng = np.random.RandomState(0)
    trainable = [jnp.asarray(v.value, jnp.float32) + 0.05 * rng.randn(*v.shape) for v in decoder.trainable_variables]
    frozen = [v.value for v in decoder.non_trainable_variables]
    micro = {key: jnp.asarray(batch[key]) for key in DPO_KEYS}
    log_probs = make_sequence_log_probs(decoder, setup.model.final_logit_soft_cap, chunk_size=64)
    is_b = lora_b_mask(decoder)

    def ours(weights):
        reference = jax.lax.stop_gradient(log_probs(lora_off(weights, is_b), frozen, micro))
        sums = dpo_sums(log_probs(weights, frozen, micro), reference, micro["pair_valid"], BETA)
        return sums["loss"] / sums["pairs"], sums

    def plain(weights):
        return _full_logits_dpo(setup, tokens, weights, frozen)

    (loss, sums), grads = jax.jit(jax.value_and_grad(ours, has_aux=True))(trainable)
    (ref_loss, margins), ref_grads = jax.jit(jax.value_and_grad(plain, has_aux=True))(trainable)
    assert abs(float(margins.mean())) > 1e-3, "the perturbed adapters move the margin"
    np.testing.assert_allclose(float(loss), float(ref_loss), atol=1e-5)
    np.testing.assert_allclose(float(sums["reward_margin"] / sums["pairs"]), float(margins.mean()), atol=1e-5)
    assert float(sums["reward_accuracy"]) == float((margins > 0).sum())
    assert sum(float(jnp.abs(g).max()) for g in ref_grads) > 0
    for ours_grad, ref_grad in zip(grads, ref_grads):
        np.testing.assert_allclose(ours_grad, ref_grad, atol=1e-5)

    # The jitted eval step (what the trainer runs) gives the same numbers.
    device = setup.device_batch(batch)
    totals = setup.steps.evaluate([jnp.asarray(t) for t in trainable], frozen, device)
    np.testing.assert_allclose(float(totals["loss"] / totals["pairs"]), float(ref_loss), atol=1e-5)


def test_reference_equals_policy_while_lora_b_is_zero(tiny):
    setup, _, _, batch = tiny
    state = setup.initial_state()
    is_b = lora_b_mask(setup.decoder)
    assert any(is_b) and all(float(jnp.abs(t).max()) == 0 for t, b in zip(state.trainable, is_b) if b)
    micro = {key: jnp.asarray(batch[key]) for key in DPO_KEYS}
    log_probs = jax.jit(make_sequence_log_probs(setup.decoder, setup.model.final_logit_soft_cap, chunk_size=8192))
    policy = log_probs(state.trainable, state.frozen, micro)
    reference = log_probs(lora_off(state.trainable, is_b), state.frozen, micro)
    assert float(jnp.abs(policy[micro["pair_valid"]]).min()) > 0
    np.testing.assert_array_equal(np.asarray(policy), np.asarray(reference))

    device = setup.device_batch(batch)
    totals = setup.steps.evaluate(state.trainable, state.frozen, device)
    assert float(totals["reward_margin"]) == 0.0 and float(totals["reward_accuracy"]) == 0.0
    assert abs(float(totals["loss"]) / float(totals["pairs"]) - math.log(2.0)) < 1e-6

    # One step moves the policy; the reference (LoRA off) stays the initial policy.
    trainable, _, metrics = setup.steps.train(state.trainable, state.frozen, state.opt_state, device)
    # The training step runs the policy under value_and_grad and the reference forward only: XLA fuses the
    # two differently, so their log-probs (hence the margin) may differ by float32 rounding (~1e-6 seen).
    assert abs(float(metrics["loss"]) - math.log(2.0)) < 1e-5 and float(metrics["grad_norm"]) > 0
    moved = log_probs(trainable, state.frozen, micro)
    assert float(jnp.abs(moved - policy).max()) > 1e-4
    np.testing.assert_array_equal(np.asarray(log_probs(lora_off(trainable, is_b), state.frozen, micro)), policy)
