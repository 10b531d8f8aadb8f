from __future__ import annotations

import json

import numpy as np
import pytest

from gemma_jax.data import BatchIterator, pack_rows
from gemma_jax.data.batches import CAPACITY_MULTIPLE

SEQ, BATCH = 48, 4


@pytest.fixture
def examples(make_examples):
    return make_examples(70, min_len=4, max_len=45, seed=7)


def make(examples, **overrides) -> BatchIterator:
    kwargs = {"sequence_length": SEQ, "batch_size": BATCH, "seed": 0, "loss_groups": 2, "num_epochs": 3}
    kwargs.update(overrides)
    return BatchIterator(examples, **kwargs)


def take(iterator, count: int) -> list[dict]:
    return [next(iterator) for _ in range(count)]


def assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def test_batch_contents_and_shapes(examples):
    it = make(examples)
    batch = next(it)
    for key in ("token_ids", "targets", "loss_mask", "segment_ids", "positions"):
        assert batch[key].shape == (BATCH, SEQ)
    assert batch["example_ids"].shape == (BATCH, it.max_segments)
    assert batch["loss_index"].shape == batch["loss_valid"].shape == (2, it.loss_capacity)
    assert batch["loss_index"].dtype == np.int32 and batch["loss_valid"].dtype == bool
    assert batch["num_loss_tokens"] == int(batch["loss_mask"].sum())
    assert batch["num_tokens"] == int((batch["segment_ids"] > 0).sum())
    assert isinstance(batch["num_tokens"], int)
    assert it.shapes()["loss_index"] == (2, it.loss_capacity)


def test_epoch_order_follows_the_documented_permutation(examples):
    it = make(examples, seed=5)
    order = np.random.default_rng([5, 1]).permutation(len(examples))
    rows = pack_rows([examples[i] for i in order], SEQ, packing=True)
    it.restore({"epoch": 1, "step_in_epoch": 0})
    batches = take(it, it.steps_in_epoch(1))
    token_ids = np.concatenate([b["token_ids"] for b in batches])[: rows.num_rows]
    np.testing.assert_array_equal(token_ids, rows.token_ids)
    ids = np.concatenate([b["example_ids"] for b in batches])
    assert sorted(i for i in ids.ravel().tolist() if i >= 0) == list(range(len(examples)))


def test_unshuffled_epoch_keeps_input_order(examples):
    it = make(examples, shuffle=False, packing=False)
    ids = np.concatenate([b["example_ids"][:, 0] for b in take(it, it.steps_per_epoch)])
    assert ids[: len(examples)].tolist() == list(range(len(examples)))


def test_same_seed_same_batches_different_seed_different(examples):
    assert_same(take(make(examples, seed=1), 30), take(make(examples, seed=1), 30))
    a, b = next(make(examples, seed=1)), next(make(examples, seed=2))
    assert not np.array_equal(a["token_ids"], b["token_ids"])


@pytest.mark.parametrize("offset", [0, 3, -1])
def test_restore_reproduces_following_batches(examples, offset):
    original = make(examples)
    skip = original.steps_per_epoch + offset if offset < 0 else offset
    take(original, skip)
    state = json.loads(json.dumps(original.state()))
    assert set(state) == {"epoch", "step_in_epoch"}
    restored = make(examples)
    restored.restore(state)
    assert restored.epoch_fraction == original.epoch_fraction
    assert_same(take(original, original.steps_per_epoch + 2), take(restored, original.steps_per_epoch + 2))


def test_epochs_advance_and_fraction(examples):
    it = make(examples)
    steps = it.steps_per_epoch
    take(it, steps // 2)
    assert it.epoch == 0 and it.epoch_fraction == pytest.approx((steps // 2) / steps)
    take(it, steps - steps // 2)
    assert it.state() == {"epoch": 1, "step_in_epoch": 0} and it.epoch_fraction == 1.0
    assert it.total_steps == sum(it.steps_in_epoch(e) for e in range(3))


def test_loss_gather_reproduces_loss_mask_and_capacity_is_static(examples):
    it = make(examples, loss_groups=2)
    capacity, biggest = it.loss_capacity, 0
    for batch in take(it, it.total_steps):
        index, valid = batch["loss_index"], batch["loss_valid"]
        assert index.shape == (2, capacity)
        rebuilt = np.zeros((2, (BATCH // 2) * SEQ), bool)
        for g in range(2):
            rebuilt[g, index[g][valid[g]]] = True
            assert not index[g][~valid[g]].any()
            assert valid[g].sum() == batch["loss_mask"][g * 2 : g * 2 + 2].sum()
            biggest = max(biggest, int(valid[g].sum()))
        np.testing.assert_array_equal(rebuilt.reshape(BATCH, SEQ), batch["loss_mask"])
    assert capacity % CAPACITY_MULTIPLE == 0 and capacity - CAPACITY_MULTIPLE < biggest <= capacity
    assert it.dropped_loss_tokens == 0


def test_final_partial_batch_is_padded(examples):
    it = make(examples, packing=False, shuffle=False, loss_groups=1)
    assert len(examples) % BATCH != 0
    batches = take(it, it.steps_per_epoch)
    last = batches[-1]
    empty = slice(len(examples) % BATCH, None)
    assert not last["segment_ids"][empty].any() and not last["loss_mask"][empty].any()
    assert (last["example_ids"][empty] == -1).all()


def test_eval_mode_stops_and_can_restart(examples):
    it = make(examples, repeat=False, shuffle=False)
    first = list(it)
    assert len(first) == it.steps_per_epoch == it.total_steps
    with pytest.raises(StopIteration):
        next(it)
    assert_same(list(it.fresh()), first)


def test_invalid_arguments(examples):
    with pytest.raises(ValueError, match="multiple of loss_groups"):
        make(examples, batch_size=6, loss_groups=4)
    it = make(examples)
    with pytest.raises(ValueError):
        it.restore({"epoch": 0, "step_in_epoch": it.steps_per_epoch + 5})
    with pytest.raises(ValueError):
        it.restore({"epoch": "zero"})
