"""The pure training step and its jitted, sharded form.

`train_step(trainable, frozen, opt_state, batch) -> (trainable, opt_state, metrics)`
is a pure function: the Keras model is only a recipe run through
`stateless_call`. It is jitted once with explicit in/out shardings, donating
only the trainable weights and optimizer state (the frozen base is reused).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gemma_jax.parallel.mesh import BATCH_AXES
from gemma_jax.runs.schema import Metric
from gemma_jax.train.accumulation import accumulate_gradients, mean_gradients, microbatch_keys, sum_microbatches
from gemma_jax.train.chunked_loss import chunked_cross_entropy
from gemma_jax.train.packed_decoder import PackedDecoder

DEVICE_KEYS = ("token_ids", "segment_ids", "positions", "targets", "loss_index", "loss_valid")


def batch_shardings(mesh: Mesh, keys: tuple[str, ...] = DEVICE_KEYS) -> dict[str, NamedSharding]:
    """Every device array is [microbatches, rows or row groups, ...]: split dimension 1."""
    spec = NamedSharding(mesh, PartitionSpec(None, BATCH_AXES))
    return {key: spec for key in keys}


@dataclass
class StepFunctions:
    train: callable
    evaluate: callable
    keys: tuple[str, ...] = DEVICE_KEYS  # the host batch entries the steps take (DPO adds its pair arrays)


def make_head_inputs(decoder: PackedDecoder):
    """(trainable, frozen, micro) → (hidden [G*C, d], embedding, targets [G*C]) at the loss positions.

    The f32 trainable masters are cast to the variables' compute dtypes first; the SFT and DPO
    losses both start from these. A `dropout_key` (training steps only) turns on LoRA dropout.
    """
    variable_dtypes = [v.dtype for v in decoder.trainable_variables]

    def head_inputs(trainable, frozen, micro, dropout_key=None):
        weights = [w.astype(dtype) for w, dtype in zip(trainable, variable_dtypes)]
        (hidden, embedding), _ = decoder.stateless_call(
            weights,
            frozen,
            micro["token_ids"],
            micro["segment_ids"],
            micro["positions"],
            micro["loss_index"],
            dropout_key,
        )
        groups, _capacity = micro["loss_index"].shape
        targets = jnp.take_along_axis(micro["targets"].reshape(groups, -1), micro["loss_index"], axis=1)
        return hidden, embedding, targets.reshape(-1)

    return head_inputs


def make_loss_fn(decoder: PackedDecoder, soft_cap, chunk_size: int):
    """Summed cross-entropy of one microbatch, and its loss-token count."""
    head_inputs = make_head_inputs(decoder)

    def loss_fn(trainable, frozen, micro, dropout_key=None):
        hidden, embedding, targets = head_inputs(trainable, frozen, micro, dropout_key)
        valid = micro["loss_valid"].reshape(-1)
        return chunked_cross_entropy(hidden, embedding, targets, valid, soft_cap=soft_cap, chunk_size=chunk_size)

    return loss_fn


def jit_steps(train_step, eval_step, mesh, shardings: tuple, keys: tuple[str, ...], eval_outputs: int) -> StepFunctions:
    """Both steps jitted with explicit shardings: `shardings` = (trainable, frozen, optimizer state);
    the train step donates trainable and optimizer state; metrics come back replicated."""
    trainable_shardings, frozen_shardings, opt_state_shardings = shardings
    replicated = NamedSharding(mesh, PartitionSpec())
    batch_spec = batch_shardings(mesh, keys)
    train = jax.jit(
        train_step,
        in_shardings=(trainable_shardings, frozen_shardings, opt_state_shardings, batch_spec),
        out_shardings=(trainable_shardings, opt_state_shardings, replicated),
        donate_argnums=(0, 2),
    )
    evaluate = jax.jit(
        eval_step,
        in_shardings=(trainable_shardings, frozen_shardings, batch_spec),
        out_shardings=replicated if eval_outputs == 1 else (replicated,) * eval_outputs,
    )
    return StepFunctions(train=train, evaluate=evaluate, keys=keys)


def apply_gradients(optimizer: optax.GradientTransformation, trainable, opt_state, grads, loss):
    """One optimizer update; returns (trainable, opt_state, grad_norm).

    A non-finite loss or gradient leaves weights and optimizer state untouched: the
    run stops on it, and what it keeps is the last good state.
    """
    grad_norm = optax.tree.norm(grads)
    updates, new_opt_state = optimizer.update(grads, opt_state, trainable)
    new_trainable = optax.apply_updates(trainable, updates)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    keep = lambda new, old: jnp.where(finite, new, old)
    new_trainable = jax.tree_util.tree_map(keep, new_trainable, trainable)
    new_opt_state = jax.tree_util.tree_map(keep, new_opt_state, opt_state)
    return new_trainable, new_opt_state, grad_norm


def build_step_functions(
    decoder: PackedDecoder,
    optimizer: optax.GradientTransformation,
    *,
    mesh: Mesh,
    trainable_shardings,
    frozen_shardings,
    opt_state_shardings,
    soft_cap=None,
    chunk_size: int = 8192,
    seed: int = 0,
) -> StepFunctions:
    """`seed` keys the step's randomness (LoRA dropout, when the decoder has it)."""
    loss_fn = make_loss_fn(decoder, soft_cap, chunk_size)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_step(trainable, frozen, opt_state, batch):
        loss_and_grad = lambda micro, key: grad_fn(trainable, frozen, micro, key)
        keys = microbatch_keys(seed, opt_state, batch)
        grads, (loss_sum, count) = accumulate_gradients(
            loss_and_grad, trainable, batch, keys, (0.0, 0.0), trainable_shardings
        )
        grads, loss = mean_gradients(grads, count), loss_sum / jnp.maximum(count, 1.0)
        new_trainable, new_opt_state, grad_norm = apply_gradients(optimizer, trainable, opt_state, grads, loss)
        metrics = {Metric.LOSS: loss, Metric.GRAD_NORM: grad_norm, Metric.LOSS_TOKENS: count}
        return new_trainable, new_opt_state, metrics

    def eval_step(trainable, frozen, batch):
        return sum_microbatches(lambda micro: loss_fn(trainable, frozen, micro), batch, (0.0, 0.0))

    shardings = (trainable_shardings, frozen_shardings, opt_state_shardings)
    return jit_steps(train_step, eval_step, mesh, shardings, DEVICE_KEYS, eval_outputs=2)
