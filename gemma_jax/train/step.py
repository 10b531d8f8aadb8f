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
from gemma_jax.train.chunked_loss import chunked_cross_entropy
from gemma_jax.train.optimizer import ControlledState
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


def microbatch_keys(seed: int, opt_state: ControlledState, microbatches: int) -> jax.Array:
    """One random key per microbatch of this step, from the seed and the optimizer's step count:
    the same step of a resumed run gets the same keys."""
    step_key = jax.random.fold_in(jax.random.PRNGKey(seed), opt_state.step)
    return jax.vmap(lambda i: jax.random.fold_in(step_key, i))(jnp.arange(microbatches))


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
        def accumulate(carry, inputs):
            micro, key = inputs
            grads, loss_sum, count = carry
            (micro_loss, micro_count), micro_grads = grad_fn(trainable, frozen, micro, key)
            grads = jax.tree_util.tree_map(lambda a, g: a + g.astype(jnp.float32), grads, micro_grads)
            return (grads, loss_sum + micro_loss, count + micro_count), None

        zeros = jax.tree_util.tree_map(lambda w: jnp.zeros(w.shape, jnp.float32), trainable)
        zeros = jax.lax.with_sharding_constraint(zeros, trainable_shardings)
        keys = microbatch_keys(seed, opt_state, jax.tree_util.tree_leaves(batch)[0].shape[0])
        (grads, loss_sum, count), _ = jax.lax.scan(accumulate, (zeros, 0.0, 0.0), (batch, keys))
        denominator = jnp.maximum(count, 1.0)
        grads = jax.tree_util.tree_map(lambda g: g / denominator, grads)
        loss = loss_sum / denominator
        new_trainable, new_opt_state, grad_norm = apply_gradients(optimizer, trainable, opt_state, grads, loss)
        metrics = {"loss": loss, "grad_norm": grad_norm, "loss_tokens": count}
        return new_trainable, new_opt_state, metrics

    def eval_step(trainable, frozen, batch):
        def accumulate(carry, micro):
            loss_sum, count = loss_fn(trainable, frozen, micro)
            return (carry[0] + loss_sum, carry[1] + count), None

        (loss_sum, count), _ = jax.lax.scan(accumulate, (0.0, 0.0), batch)
        return loss_sum, count

    shardings = (trainable_shardings, frozen_shardings, opt_state_shardings)
    return jit_steps(train_step, eval_step, mesh, shardings, DEVICE_KEYS, eval_outputs=2)
