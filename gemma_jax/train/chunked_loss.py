"""Cross-entropy over a large vocabulary, in chunks, at loss positions only.

On small Gemmas the output head (hidden x 262k vocabulary) is the largest cost
in time and memory. The step gathers the hidden states of the positions whose
loss mask is on (a fixed capacity per row group, so shapes stay static), and
this module computes log-sum-exp over the vocabulary a chunk at a time with an
online maximum, so [positions, chunk] is the largest logits block that exists.

Every matmul takes operands in the compute dtype and returns float32; on CPUs
with bf16 units bf16 operands ask for float32 accumulation, their fast path
(`mixed_einsum.accumulate_in_float32`).

The gradient is fused into the same pass: alongside the running sum of
exp(logit - max) it accumulates exp(logit - max) @ E, so d loss / d hidden
costs one extra matmul per chunk and nothing is recomputed. The embedding's own
gradient (full fine-tuning only) recomputes each chunk in the backward pass;
with a frozen embedding XLA removes that work entirely.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from gemma_jax.train.mixed_einsum import accumulate_in_float32


def _soft_cap(logits, cap):
    return logits if not cap else jnp.tanh(logits / cap) * cap


def _cap_derivative(capped, cap):
    """d soft_cap(x) / dx written in terms of the capped value."""
    return jnp.ones_like(capped) if not cap else 1.0 - jnp.square(capped / cap)


def _dot(equation: str, a, b):
    """A float32 result of compute-dtype operands."""
    preferred = jnp.float32 if accumulate_in_float32(a.dtype) else None
    return jnp.einsum(equation, a, b, preferred_element_type=preferred).astype(jnp.float32)


def _chunked_table(embedding, chunk_size: int, dtype):
    """The table as [chunks, chunk, hidden] in `dtype`, bf16 carried as its bits (see `_chunk_weights`)."""
    vocab = embedding.shape[0]
    chunk = min(chunk_size, vocab)
    count = -(-vocab // chunk)
    table = embedding.astype(dtype)
    if count * chunk != vocab:
        table = jnp.pad(table, ((0, count * chunk - vocab), (0, 0)))
    if table.dtype == jnp.bfloat16:
        # XLA:CPU widens a bf16 loop input to float32 before the loop and narrows each chunk back
        # inside it: a whole-table conversion every step (a fifth of the head's time on the 270M).
        # Integer bits pass through untouched.
        table = jax.lax.bitcast_convert_type(table, jnp.uint16)
    return table.reshape(count, chunk, -1), jnp.arange(count) * chunk, vocab


def _chunk_weights(chunk, dtype):
    """A chunk of `_chunked_table` in `dtype` again."""
    return jax.lax.bitcast_convert_type(chunk, dtype) if chunk.dtype == jnp.uint16 else chunk


def _chunk_logits(hidden, weights, start, vocab, soft_cap):
    """Logits of one vocabulary chunk; padding past the vocabulary (last chunk only) is -inf."""
    logits = _soft_cap(_dot("nd,vd->nv", hidden, weights), soft_cap)
    if vocab % weights.shape[0] == 0:  # chunks tile the vocabulary: nothing to mask
        return logits, None
    in_vocab = (start + jnp.arange(weights.shape[0])) < vocab
    return jnp.where(in_vocab[None, :], logits, -jnp.inf), in_vocab


def _forward(hidden, embedding, targets, valid, soft_cap, chunk_size, with_grad: bool):
    table, starts, vocab = _chunked_table(embedding, chunk_size, hidden.dtype)
    count, width = hidden.shape

    def chunk_step(carry, inputs):
        running_max, running_sum, grad_sum = carry
        weights, start = _chunk_weights(inputs[0], hidden.dtype), inputs[1]
        logits, in_vocab = _chunk_logits(hidden, weights, start, vocab, soft_cap)
        new_max = jnp.maximum(running_max, logits.max(axis=-1))
        rescale = jnp.exp(running_max - new_max)
        exps = jnp.exp(logits - new_max[:, None])
        running_sum = running_sum * rescale + exps.sum(-1)
        if with_grad:
            slopes = exps * _cap_derivative(logits, soft_cap) if soft_cap else exps
            if in_vocab is not None:
                slopes = jnp.where(in_vocab[None, :], slopes, 0.0)
            grad_sum = grad_sum * rescale[:, None] + _dot("nv,vd->nd", slopes.astype(hidden.dtype), weights)
        return (new_max, running_sum, grad_sum), None

    init = (
        jnp.full((count,), -jnp.inf, jnp.float32),
        jnp.zeros((count,), jnp.float32),
        jnp.zeros((count, width if with_grad else 0), jnp.float32),
    )
    (running_max, running_sum, grad_sum), _ = jax.lax.scan(chunk_step, init, (table, starts))
    log_normalizer = running_max + jnp.log(running_sum)
    target_rows = jnp.take(embedding, targets, axis=0).astype(hidden.dtype)
    target_logits = _soft_cap(jnp.sum(hidden * target_rows, axis=-1).astype(jnp.float32), soft_cap)
    loss = jnp.where(valid, log_normalizer - target_logits, 0.0).sum()
    softmax_grad = grad_sum / running_sum[:, None] if with_grad else None
    return loss, (log_normalizer, softmax_grad, target_logits)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _loss_sum(hidden, embedding, targets, valid, soft_cap, chunk_size):
    return _forward(hidden, embedding, targets, valid, soft_cap, chunk_size, with_grad=False)[0]


def _loss_sum_fwd(hidden, embedding, targets, valid, soft_cap, chunk_size):
    loss, (log_normalizer, softmax_grad, target_logits) = _forward(
        hidden, embedding, targets, valid, soft_cap, chunk_size, with_grad=True
    )
    return loss, (hidden, embedding, targets, valid, log_normalizer, softmax_grad, target_logits)


def _loss_sum_bwd(soft_cap, chunk_size, residuals, cotangent):
    hidden, embedding, targets, valid, log_normalizer, softmax_grad, target_logits = residuals
    weight = jnp.where(valid, cotangent, 0.0)
    target_slope = _cap_derivative(target_logits, soft_cap)
    target_rows = jnp.take(embedding, targets, axis=0).astype(jnp.float32)
    d_hidden = weight[:, None] * (softmax_grad - target_slope[:, None] * target_rows)

    table, starts, vocab = _chunked_table(embedding, chunk_size, hidden.dtype)

    def chunk_grad(_, inputs):
        weights, start = _chunk_weights(inputs[0], hidden.dtype), inputs[1]
        logits, in_vocab = _chunk_logits(hidden, weights, start, vocab, soft_cap)
        probs = jnp.exp(logits - log_normalizer[:, None]) * _cap_derivative(logits, soft_cap)
        if in_vocab is not None:
            probs = jnp.where(in_vocab[None, :], probs, 0.0)
        probs = probs * weight[:, None]
        return None, _dot("nv,nd->vd", probs.astype(hidden.dtype), hidden)

    _, d_table = jax.lax.scan(chunk_grad, None, (table, starts))
    d_embedding = d_table.reshape(-1, hidden.shape[1])[:vocab]
    d_embedding = d_embedding.at[targets].add(-(weight * target_slope)[:, None] * hidden.astype(jnp.float32))
    return d_hidden.astype(hidden.dtype), d_embedding.astype(embedding.dtype), None, None


_loss_sum.defvjp(_loss_sum_fwd, _loss_sum_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _token_losses(hidden, embedding, targets, valid, soft_cap, chunk_size):
    _, (log_normalizer, _, target_logits) = _forward(
        hidden, embedding, targets, valid, soft_cap, chunk_size, with_grad=False
    )
    return jnp.where(valid, log_normalizer - target_logits, 0.0)


def _token_losses_fwd(hidden, embedding, targets, valid, soft_cap, chunk_size):
    _, (log_normalizer, softmax_grad, target_logits) = _forward(
        hidden, embedding, targets, valid, soft_cap, chunk_size, with_grad=True
    )
    losses = jnp.where(valid, log_normalizer - target_logits, 0.0)
    return losses, (hidden, embedding, targets, valid, log_normalizer, softmax_grad, target_logits)


# The summed loss's backward already weights each token by its cotangent (a scalar broadcast
# there); with one cotangent per token it is exactly the per-token losses' backward.
_token_losses.defvjp(_token_losses_fwd, _loss_sum_bwd)


def chunked_token_log_probs(hidden, embedding, targets, valid, *, soft_cap=None, chunk_size=8192):
    """log p(target) per position, 0 where not valid: [N] f32, same chunked pass and fused gradient
    as `chunked_cross_entropy` (DPO needs per-sequence sums, not one batch total)."""
    return -_token_losses(hidden, embedding, targets, valid, soft_cap, chunk_size)


def chunked_cross_entropy(hidden, embedding, targets, valid, *, soft_cap=None, chunk_size=8192):
    """Sum of token cross-entropies and the number of tokens counted.

    hidden [N, D] (compute dtype), embedding [V, D], targets [N] int, valid [N] bool.
    Returns (loss_sum f32, count f32).
    """
    return _loss_sum(hidden, embedding, targets, valid, soft_cap, chunk_size), valid.sum().astype(jnp.float32)


def gather_loss_positions(values, loss_index):
    """Pick each row group's loss positions: values [B, S, ...] → [G*C, ...].

    loss_index [G, C] holds flat indices into the (B/G)*S positions of group g.
    Groups are contiguous rows, so with batch sharding each group stays on its device.
    """
    groups, capacity = loss_index.shape
    grouped = values.reshape(groups, -1, *values.shape[2:])
    picked = jnp.take_along_axis(grouped, loss_index.reshape(groups, capacity, *([1] * (values.ndim - 2))), axis=1)
    return picked.reshape(groups * capacity, *values.shape[2:])
