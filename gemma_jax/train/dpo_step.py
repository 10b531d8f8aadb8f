"""The jitted DPO train and eval steps: same shape, shardings and donation as the SFT step.

`train_step(trainable, frozen, opt_state, batch) -> (trainable, opt_state, metrics)`
scans over microbatches; for each it runs the reference (LoRA off, no gradient)
and then the policy under `value_and_grad`, sums the per-pair losses and metric
sums, and divides by the number of pairs in the global batch, so the loss is the
mean DPO loss per pair. Metrics: loss, grad_norm, loss_tokens, pairs, and per-pair
means of chosen/rejected reward, reward margin, reward accuracy and the policy's
chosen/rejected log-probs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from gemma_jax.runs.schema import EVAL_PREFIX, Metric
from gemma_jax.train.accumulation import accumulate_gradients, mean_gradients, microbatch_keys, sum_microbatches
from gemma_jax.train.dpo_loss import (
    COUNT_KEYS,
    SUM_KEYS,
    TOKENS,
    dpo_sums,
    lora_b_mask,
    lora_off,
    make_sequence_log_probs,
    pair_means,
)
from gemma_jax.train.packed_decoder import PackedDecoder
from gemma_jax.train.step import DEVICE_KEYS, StepFunctions, apply_gradients, jit_steps

DPO_KEYS = (*DEVICE_KEYS, "loss_pair", "pair_valid")


def _zero_totals() -> dict:
    return {key: jnp.zeros((), jnp.float32) for key in SUM_KEYS}


def build_dpo_step_functions(
    decoder: PackedDecoder,
    optimizer: optax.GradientTransformation,
    *,
    mesh: Mesh,
    trainable_shardings,
    frozen_shardings,
    opt_state_shardings,
    soft_cap=None,
    beta: float = 0.1,
    chunk_size: int = 8192,
    seed: int = 0,
) -> StepFunctions:
    is_lora_b = lora_b_mask(decoder)
    if not any(is_lora_b):
        raise ValueError("DPO uses the base with LoRA off as its reference, so the model needs LoRA adapters.")
    log_probs = make_sequence_log_probs(decoder, soft_cap, chunk_size)

    def reference_log_probs(trainable, frozen, micro):
        return jax.lax.stop_gradient(log_probs(lora_off(trainable, is_lora_b), frozen, micro))

    def policy_loss(trainable, frozen, micro, reference, dropout_key=None):
        sums = dpo_sums(log_probs(trainable, frozen, micro, dropout_key), reference, micro["pair_valid"], beta)
        sums[TOKENS] = micro["loss_valid"].sum().astype(jnp.float32)
        return sums[Metric.LOSS], sums

    grad_fn = jax.value_and_grad(policy_loss, has_aux=True)

    def train_step(trainable, frozen, opt_state, batch):
        def loss_and_grad(micro, key):
            reference = reference_log_probs(trainable, frozen, micro)
            (_, sums), grads = grad_fn(trainable, frozen, micro, reference, key)
            return sums, grads

        keys = microbatch_keys(seed, opt_state, batch)
        grads, totals = accumulate_gradients(loss_and_grad, trainable, batch, keys, _zero_totals(), trainable_shardings)
        grads, metrics = mean_gradients(grads, totals[Metric.PAIRS]), pair_means(totals)
        new_trainable, new_opt_state, grad_norm = apply_gradients(
            optimizer, trainable, opt_state, grads, metrics[Metric.LOSS]
        )
        return new_trainable, new_opt_state, {**metrics, Metric.GRAD_NORM: grad_norm}

    def eval_step(trainable, frozen, batch):
        """Sums (not means) over the batch, so an evaluation can add batches up: see `pair_means`."""

        def sums(micro):
            return policy_loss(trainable, frozen, micro, reference_log_probs(trainable, frozen, micro))[1]

        return sum_microbatches(sums, batch, _zero_totals())

    shardings = (trainable_shardings, frozen_shardings, opt_state_shardings)
    return jit_steps(train_step, eval_step, mesh, shardings, DPO_KEYS, eval_outputs=1)


def evaluate_pairs(steps: StepFunctions, trainable, frozen, batches, device_batch, max_batches: int) -> dict:
    """Per-pair means over (up to max_batches of) held-out batches, as `eval_*` metrics."""
    totals = {key: 0.0 for key in SUM_KEYS}
    for index, host_batch in enumerate(batches):
        if index >= max_batches:
            break
        sums = steps.evaluate(trainable, frozen, device_batch(host_batch))
        totals = {key: totals[key] + float(sums[key]) for key in SUM_KEYS}
    pairs = max(totals[Metric.PAIRS], 1.0)
    out = {EVAL_PREFIX + key: totals[key] / pairs for key in SUM_KEYS if key not in COUNT_KEYS}
    out[Metric.EVAL_PAIRS] = int(totals[Metric.PAIRS])
    return out
