"""Gradient accumulation over microbatches: the one `lax.scan` the SFT and DPO steps share.

A step's batch is stacked `[microbatches, ...]` (`train.grad_accum_steps` of them). Every
microbatch's loss is a *sum* (over loss tokens for SFT, over pairs for DPO), so adding
gradients and sums across microbatches and dividing once by the batch's total count gives
the mean over the whole global batch, whatever the number of microbatches: accumulating
2 × 4 rows is the same step as 1 × 8.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gemma_jax.train.optimizer import ControlledState

PyTree = Any
# (microbatch, dropout key) -> (sums, gradients): the sums are what the step reports and divides by.
LossAndGrad = Callable[[dict, jax.Array], tuple[PyTree, list]]


def microbatch_count(micro_batches: PyTree) -> int:
    """How many microbatches a stacked batch holds (its leading dimension)."""
    return jax.tree_util.tree_leaves(micro_batches)[0].shape[0]


def microbatch_keys(seed: int, opt_state: ControlledState, micro_batches: PyTree) -> jax.Array:
    """One random key per microbatch of this step, from the seed and the optimizer's step count:
    the same step of a resumed run gets the same keys."""
    step_key = jax.random.fold_in(jax.random.PRNGKey(seed), opt_state.step)
    return jax.vmap(lambda i: jax.random.fold_in(step_key, i))(jnp.arange(microbatch_count(micro_batches)))


def sum_microbatches(fn: Callable[[Any], PyTree], micro_batches: PyTree, zeros: PyTree) -> PyTree:
    """Σ fn(micro) over the leading axis of `micro_batches`, leaf by leaf, starting from `zeros`.

    A scan, not a vmap: one microbatch's activations are alive at a time, which is the point
    of accumulating. The eval steps use it directly; `accumulate_gradients` adds gradients.
    """

    def add(total, micro):
        return jax.tree_util.tree_map(jnp.add, total, fn(micro)), None

    total, _ = jax.lax.scan(add, zeros, micro_batches)
    return total


def accumulate_gradients(
    loss_and_grad: LossAndGrad,
    trainable: list,
    micro_batches: PyTree,
    keys: jax.Array,
    zero_sums: PyTree,
    shardings: PyTree,
) -> tuple[list, PyTree]:
    """Summed f32 gradients and summed `sums` of `loss_and_grad` over the microbatches.

    Gradients are added in float32 whatever the compute dtype, into buffers sharded like the
    f32 trainable masters (`shardings`), so the accumulator never gathers a weight. The caller
    divides by its count (`mean_gradients`).
    """

    def one_microbatch(inputs):
        micro, key = inputs
        sums, grads = loss_and_grad(micro, key)
        return jax.tree_util.tree_map(lambda g: g.astype(jnp.float32), grads), sums

    zeros = jax.tree_util.tree_map(lambda w: jnp.zeros(w.shape, jnp.float32), trainable)
    zeros = jax.lax.with_sharding_constraint(zeros, shardings)
    return sum_microbatches(one_microbatch, (micro_batches, keys), (zeros, zero_sums))


def mean_gradients(grads: list, count: jax.Array) -> list:
    """Summed gradients divided by the batch's count (at least 1: an empty batch changes nothing)."""
    denominator = jnp.maximum(count, 1.0)
    return jax.tree_util.tree_map(lambda g: g / denominator, grads)
