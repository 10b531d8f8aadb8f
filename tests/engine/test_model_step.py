"""The forward pass, the loss and the jitted step, checked against references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import TEXTS, synthetic_batch
from training_helpers import assert_same_outcome, full_target_log_probs, random_head_inputs, tiny_training

from gemma_jax.cpu_features import BF16_UNITS_OVERRIDE
from gemma_jax.models.loading import load_model
from gemma_jax.train.chunked_loss import chunked_cross_entropy
from gemma_jax.train.packed_decoder import PackedDecoder
from gemma_jax.train.step import make_loss_fn


def _values(variables):
    return [v.value for v in variables]


@pytest.mark.parametrize("arch", ["gemma", "gemma2", "gemma3"])
def test_packed_examples_never_see_each_other(arch):
    """Each packed segment's hidden states equal running that example alone (sliding window included)."""
    model = load_model(f"tiny:{arch}", vocab_texts=TEXTS)
    decoder = PackedDecoder(model.backbone)
    rng = np.random.RandomState(1)
    first, second = rng.randint(6, 300, size=(2, 21)), rng.randint(6, 300, size=(2, 43))
    packed = np.concatenate([first, second], 1).astype("int32")
    segments = np.array([[1] * 21 + [2] * 43] * 2, "int32")
    positions = np.array([list(range(21)) + list(range(43))] * 2, "int32")
    hidden = np.asarray(decoder.hidden_states(packed, segments, positions))

    def alone(ids):
        ones = np.ones_like(ids)
        return np.asarray(decoder.hidden_states(ids.astype("int32"), ones, np.cumsum(ones, 1) - 1))

    np.testing.assert_allclose(hidden[:, :21], alone(first), atol=2e-5)
    np.testing.assert_allclose(hidden[:, 21:], alone(second), atol=2e-5)
    # And the comparison can fail: without segment ids the second example sees the first.
    leaky = np.asarray(decoder.hidden_states(packed, np.ones_like(segments), np.arange(64)[None].repeat(2, 0)))
    assert np.abs(leaky[:, 21:] - alone(second)).max() > 1e-2


@pytest.mark.parametrize("arch", ["gemma", "gemma3"])
def test_unpacked_forward_equals_keras_hub_backbone(arch):
    model = load_model(f"tiny:{arch}", vocab_texts=TEXTS)
    ids = np.random.RandomState(0).randint(6, 300, size=(2, 40)).astype("int32")
    reference = np.asarray(model.backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)}))
    decoder = PackedDecoder(model.backbone)
    hidden, _ = decoder(ids, np.ones_like(ids), np.arange(40)[None].repeat(2, 0).astype("int32"))
    np.testing.assert_allclose(np.asarray(hidden), reference, atol=1e-5)


@pytest.mark.parametrize("soft_cap", [None, 30.0])
def test_chunked_cross_entropy_matches_full_logits(soft_cap):
    hidden, embedding, targets, valid = random_head_inputs(np.random.RandomState(0))

    def reference(h, e):
        return -(full_target_log_probs(h, e, targets, soft_cap) * valid).sum()

    def ours(h, e):  # 1000 is not a multiple of 128: exercises the padded last chunk
        return chunked_cross_entropy(h, e, targets, valid, soft_cap=soft_cap, chunk_size=128)[0]

    np.testing.assert_allclose(ours(hidden, embedding), reference(hidden, embedding), rtol=1e-6, atol=1e-5)
    for ours_grad, ref_grad in zip(
        jax.grad(ours, (0, 1))(hidden, embedding), jax.grad(reference, (0, 1))(hidden, embedding)
    ):
        np.testing.assert_allclose(ours_grad, ref_grad, atol=1e-5)


@pytest.mark.parametrize("soft_cap", [None, 30.0])
def test_bf16_chunked_cross_entropy_follows_float32(soft_cap, monkeypatch):
    """A bf16 table (carried through the chunk loop as its bits) gives float32's loss and gradients."""
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "1")
    hidden, embedding, targets, valid = random_head_inputs(np.random.RandomState(1))

    def loss(h, e):  # a padded last chunk, as above
        return chunked_cross_entropy(h, e, targets, valid, soft_cap=soft_cap, chunk_size=128)[0]

    low = (hidden.astype(jnp.bfloat16), embedding.astype(jnp.bfloat16))
    np.testing.assert_allclose(float(loss(*low)), float(loss(hidden, embedding)), rtol=0.01)
    for mine, reference in zip(jax.grad(loss, (0, 1))(*low), jax.grad(loss, (0, 1))(hidden, embedding)):
        assert mine.dtype == jnp.bfloat16
        scale = float(jnp.abs(reference).max())
        np.testing.assert_allclose(np.asarray(mine, np.float32), reference, atol=0.03 * scale)


@pytest.mark.parametrize("arch", ["gemma2", "gemma3"])
def test_model_loss_and_grads_match_full_logits_reference(tmp_path, arch):
    """Response-only chunked loss through the whole model equals Keras-Hub logits + masked softmax CE."""
    setup = tiny_training(
        tmp_path, f"model.source=tiny:{arch}", "method.kind=lora", devices=jax.devices()[:1], total_steps=4
    )
    model = setup.model
    decoder = setup.decoder
    batch = synthetic_batch(4, 32, 1, model.tokenizer.vocabulary_size)
    batch["segment_ids"][:] = 1
    batch["positions"] = np.arange(32)[None].repeat(4, 0).astype("int32")
    trainable = [jnp.asarray(v.value, jnp.float32) + 0.01 for v in decoder.trainable_variables]
    frozen = _values(decoder.non_trainable_variables)
    micro = {k: jnp.asarray(v) for k, v in batch.items()}
    loss_fn = make_loss_fn(decoder, model.final_logit_soft_cap, chunk_size=64)

    def ours(weights):
        total, count = loss_fn(weights, frozen, micro)
        return total / count

    def reference(weights):
        inputs = {"token_ids": micro["token_ids"], "padding_mask": jnp.ones_like(micro["token_ids"])}
        hidden, _ = model.backbone.stateless_call(weights, frozen, inputs)
        logits = hidden @ frozen[0].T  # the embedding is the first frozen variable
        if model.final_logit_soft_cap:
            logits = jnp.tanh(logits / model.final_logit_soft_cap) * model.final_logit_soft_cap
        log_probs = jax.nn.log_softmax(logits, -1)
        picked = jnp.take_along_axis(log_probs, micro["targets"][..., None], -1)[..., 0]
        mask = micro["loss_mask"]
        return -(picked * mask).sum() / mask.sum()

    assert model.backbone.token_embedding.embeddings.path == decoder.non_trainable_variables[0].path
    np.testing.assert_allclose(ours(trainable), reference(trainable), rtol=1e-6, atol=1e-5)
    for ours_grad, ref_grad in zip(jax.grad(ours)(trainable), jax.grad(reference)(trainable)):
        np.testing.assert_allclose(ours_grad, ref_grad, atol=1e-5)


@pytest.mark.parametrize("kind", ["lora", "full"])
def test_sharded_step_equals_single_device(tmp_path, kind):
    sharded = tiny_training(tmp_path, f"method.kind={kind}", mesh=(1, 4, 2), devices=jax.devices())
    single = tiny_training(tmp_path, f"method.kind={kind}", mesh=(1, 1, 1), devices=jax.devices()[:1])
    batch = synthetic_batch(8, 32, sharded.loss_groups, sharded.model.tokenizer.vocabulary_size)
    one_batch = synthetic_batch(8, 32, single.loss_groups, single.model.tokenizer.vocabulary_size)
    assert one_batch["loss_mask"].tolist() == batch["loss_mask"].tolist()
    results = []
    for setup, host in ((sharded, batch), (single, one_batch)):
        state = setup.initial_state()
        trainable, _, metrics = setup.steps.train(
            state.trainable, state.frozen, state.opt_state, setup.device_batch(host)
        )
        results.append((float(metrics["loss"]), [np.asarray(t) for t in trainable]))
    assert_same_outcome(*results, atol=1e-5)


def test_weights_really_are_sharded(tmp_path):
    setup = tiny_training(tmp_path, "method.kind=lora", mesh=(1, 4, 2), devices=jax.devices())
    state = setup.initial_state()
    frozen = {v.path: x for v, x in zip(setup.decoder.non_trainable_variables, state.frozen)}
    trainable = {v.path: x for v, x in zip(setup.decoder.trainable_variables, state.trainable)}
    block = "decoder_block_0"
    # query kernel [heads=4, hidden=64, head_dim=16]: heads over model=2, hidden over fsdp=4.
    assert frozen[f"{block}/attention/query/kernel"].addressable_shards[0].data.shape == (2, 16, 16)
    # one key/value head cannot be split over model=2: that dimension is replicated.
    assert frozen[f"{block}/attention/key/kernel"].addressable_shards[0].data.shape == (1, 16, 16)
    assert frozen[f"{block}/ffw_gating/kernel"].addressable_shards[0].data.shape == (16, 64)
    assert frozen[f"{block}/ffw_linear/kernel"].addressable_shards[0].data.shape == (64, 16)
    vocab = setup.model.tokenizer.vocabulary_size
    embedding_shard = frozen["token_embedding/embeddings"].addressable_shards[0].data.shape
    assert embedding_shard == ((vocab // 2 if vocab % 2 == 0 else vocab), 16)
    # LoRA factors follow their kernel: A [4, 64, r] like the kernel's leading axes, B [r, 16].
    assert trainable[f"{block}/attention/query/lora_kernel_a"].addressable_shards[0].data.shape == (2, 16, 8)
    assert trainable[f"{block}/attention/query/lora_kernel_b"].addressable_shards[0].data.shape == (8, 16)
    assert len({d.id for x in state.frozen for d in x.devices()}) == 8


def test_step_compiles_once(tmp_path):
    setup = tiny_training(
        tmp_path, "method.kind=lora", "train.grad_accum_steps=2", mesh=(2, 2, 2), devices=jax.devices()
    )
    state = setup.initial_state()
    for seed in range(3):
        host = synthetic_batch(8, 32, setup.loss_groups, setup.model.tokenizer.vocabulary_size, seed=0)
        host["token_ids"] = np.roll(host["token_ids"], seed, 1)
        state.trainable, state.opt_state, metrics = setup.steps.train(
            state.trainable, state.frozen, state.opt_state, setup.device_batch(host)
        )
        assert np.isfinite(float(metrics["loss"]))
    assert setup.steps.train._cache_size() == 1


def test_donation_leaves_frozen_weights_usable(tmp_path):
    setup = tiny_training(tmp_path, "method.kind=lora", mesh=(1, 8, 1), devices=jax.devices())
    state = setup.initial_state()
    old_trainable = state.trainable
    host = synthetic_batch(8, 32, setup.loss_groups, setup.model.tokenizer.vocabulary_size)
    setup.steps.train(state.trainable, state.frozen, state.opt_state, setup.device_batch(host))
    assert all(x.is_deleted() for x in old_trainable)  # donated
    assert not any(x.is_deleted() for x in state.frozen)  # reused, never donated
