"""Exact greedy decoding that reads the output head mostly as int8: shortlist, rescore, prove.

On a CPU, greedy decoding of a float32 model is bound by memory: each token reads the whole
tied output head (262k x 640 float32 = 671 MB for Gemma 3 270M), more than the rest of the model.
This path reads an int8 copy instead (a quarter of the bytes; half for a bfloat16 head, whose rows
are exact in float32 and are treated as a float32 head below), and still returns exactly the
token the float32 head would pick:

1. approximate logits from the int8 head, each with a proven error bound: for row v,
   |h·w_v - h·ŵ_v| <= ||h|| ||w_v - ŵ_v|| (Cauchy-Schwarz), plus float32 rounding of both
   products (n·u·||h||·||w||, n = hidden size, u = 2^-24), so `upper_v` bounds what the float32
   head can compute for v;
2. the token c with the largest approximate logit gets its exact float32 logit l_c (lowered by
   c's own bound); every token whose upper bound reaches it is a candidate (c is one);
3. at most `CANDIDATES` candidates are rescored with their float32 rows; the best of them is the
   float32 head's argmax, because no other token can reach l_c. Ties go to the lowest id, as
   argmax does.

When more than `CANDIDATES` tokens could reach l_c (a near tie the int8 copy cannot separate),
the step falls back to the full float32 head, so the result is always the float32 head's choice.
The final soft cap (Gemma 2) is monotone, so it cannot change an argmax and is skipped here.
Sampling (top-k / top-p) needs the whole distribution and keeps the full head; so do batches of
several prompts (generate_loop._choose says why).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gemma_jax.models.decoding.matrix import Matrix

SHORTLIST_DTYPES = ("float32", "bfloat16")  # heads it can stand in for: an int8 head has no exact rows to rescore
CANDIDATES = 64  # rows rescored in float32 per token: a 64 x hidden gather, negligible next to the head
ROUNDING = 2.0**-24  # float32 unit roundoff
SLACK = 1.001  # covers the rounding of the norms themselves


class ShortlistHead(NamedTuple):
    """An int8 copy of the float32 head and each row's error bound per unit of ||h||."""

    int8: Matrix
    error: jax.Array  # [vocab] float32

    @classmethod
    def pack(cls, head: jax.Array) -> ShortlistHead:
        """From the float32 head [vocab, hidden] (call inside jit)."""
        head = head.astype(jnp.float32)
        int8 = Matrix.pack(head, "int8")
        residual = head - int8.values.astype(jnp.float32) * int8.scale[:, None]
        residual_norm = jnp.linalg.norm(residual, axis=1)
        head_norm = jnp.linalg.norm(head, axis=1)
        rounding = head.shape[1] * ROUNDING * (2.0 * head_norm + residual_norm)
        return cls(int8, SLACK * (residual_norm + rounding))


def exact_greedy(head: Matrix, shortlist: ShortlistHead, normed: jax.Array, vocabulary: int | None) -> jax.Array:
    """[batch] int32: the argmax of `head.apply(normed)` over the first `vocabulary` ids (all: None).

    head: the float32 [vocab, hidden] head; normed: [batch, hidden] final-normed hidden states.
    """
    reach = contenders(head, shortlist, normed, vocabulary)
    fits = jnp.all(jnp.sum(reach, axis=-1) <= CANDIDATES)

    def rescore(_) -> jax.Array:
        candidates = jax.vmap(lambda row: jnp.nonzero(row, size=CANDIDATES, fill_value=-1)[0])(reach)
        exact = jnp.where(candidates >= 0, _exact_logits(head, normed, jnp.maximum(candidates, 0)), -jnp.inf)
        best = jnp.max(exact, axis=-1, keepdims=True)
        lowest = jnp.where(exact == best, candidates, jnp.iinfo(jnp.int32).max)
        return jnp.min(lowest, axis=-1).astype(jnp.int32)

    def full_head(_) -> jax.Array:
        return jnp.argmax(_decodable(head.apply(normed), vocabulary), axis=-1).astype(jnp.int32)

    return jax.lax.cond(fits, rescore, full_head, None)


def contenders(head: Matrix, shortlist: ShortlistHead, normed: jax.Array, vocabulary: int | None) -> jax.Array:
    """[batch, vocab] bool: the tokens whose float32 logit might reach the int8 leader's (steps 1-2)."""
    approx = _decodable(shortlist.int8.apply(normed), vocabulary)
    norm = SLACK * jnp.linalg.norm(normed, axis=-1, keepdims=True)
    upper = approx + norm * shortlist.error[None, :]
    leader = jnp.argmax(approx, axis=-1)  # [batch]
    # The leader's float32 logit, lowered by its own bound so that its rounding is covered too.
    leader_logit = _exact_logits(head, normed, leader[:, None])[:, 0] - norm[:, 0] * shortlist.error[leader]
    return upper >= leader_logit[:, None]


def _decodable(logits: jax.Array, vocabulary: int | None) -> jax.Array:
    if vocabulary is None or vocabulary >= logits.shape[-1]:
        return logits
    return jnp.where(jnp.arange(logits.shape[-1]) < vocabulary, logits, -jnp.inf)


def _exact_logits(head: Matrix, normed: jax.Array, ids: jax.Array) -> jax.Array:
    """[batch, k] float32 logits of token `ids` [batch, k], from their float32 rows."""
    rows = jnp.take(head.values, ids, axis=0)  # [batch, k, hidden]
    return jnp.einsum("bh,bkh->bk", normed, rows, precision=jax.lax.Precision.HIGHEST)
