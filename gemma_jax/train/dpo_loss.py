"""The DPO objective on packed preference pairs, with the base model (LoRA off) as reference.

DPO (Rafailov et al. 2023) raises the policy's log-probability of the chosen
response relative to the rejected one, measured against a frozen reference:

    loss = -log σ(β · ((π_c − ref_c) − (π_r − ref_r)))

where π and ref are summed log-probabilities of a response's tokens. With LoRA
the reference needs no second model: it is the same frozen base with the
adapters' contribution switched off (every B factor zero, so `x·K + s·(x·A)·0`
is exactly `x·K`), run in the same jitted step without a gradient.

Per-token log-probs come from the chunked pass over the vocabulary
(`chunked_token_log_probs`), so the full [rows, sequence, vocab] logits never
exist; one segment sum per loss group turns them into per-sequence sums using
the `loss_pair` slots the preference iterator provides.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gemma_jax.runs.schema import DPO_MEAN_METRICS, Metric
from gemma_jax.train.chunked_loss import chunked_token_log_probs
from gemma_jax.train.packed_decoder import PackedDecoder
from gemma_jax.train.step import make_head_inputs

TOKENS = "tokens"  # the loss-token sum; reported as Metric.LOSS_TOKENS
COUNT_KEYS = (Metric.PAIRS, TOKENS)
# Per-microbatch sums the step adds up; every one but the counts becomes a per-pair mean.
SUM_KEYS = (Metric.LOSS, *COUNT_KEYS, *DPO_MEAN_METRICS)


def lora_b_mask(decoder: PackedDecoder) -> list[bool]:
    """Which trainable variables are LoRA B factors (zeroing them turns every adapter off)."""
    return [v.path.endswith("lora_kernel_b") for v in decoder.trainable_variables]


def lora_off(trainable: list, is_lora_b: list[bool]) -> list:
    """The trainable weights with every adapter's contribution removed: the reference model."""
    return [jnp.zeros_like(w) if b else w for w, b in zip(trainable, is_lora_b)]


def make_sequence_log_probs(decoder: PackedDecoder, soft_cap, chunk_size: int):
    """(trainable, frozen, micro) → [G, pair_slots, 2] summed response log-probs (chosen, rejected)."""
    head_inputs = make_head_inputs(decoder)

    def sequence_log_probs(trainable, frozen, micro, dropout_key=None):
        hidden, embedding, targets = head_inputs(trainable, frozen, micro, dropout_key)
        groups, capacity = micro["loss_index"].shape
        token_log_probs = chunked_token_log_probs(
            hidden,
            embedding,
            targets,
            micro["loss_valid"].reshape(-1),
            soft_cap=soft_cap,
            chunk_size=chunk_size,
        ).reshape(groups, capacity)
        slots = 2 * micro["pair_valid"].shape[1]
        # Padding positions carry log-prob 0 and slot 0, so they add nothing.
        sums = jax.vmap(lambda v, i: jax.ops.segment_sum(v, i, num_segments=slots))(token_log_probs, micro["loss_pair"])
        return sums.reshape(groups, -1, 2)

    return sequence_log_probs


def dpo_sums(policy, reference, pair_valid, beta: float) -> dict:
    """Summed DPO loss and metric sums over the valid pairs of a microbatch.

    policy, reference: [G, P, 2] sequence log-probs (chosen, rejected); pair_valid [G, P].
    Rewards are β·(π − ref); accuracy counts pairs whose chosen reward is the higher.
    """
    weight = pair_valid.astype(jnp.float32)
    rewards = beta * (policy - reference)
    chosen, rejected = rewards[..., 0], rewards[..., 1]
    margin = chosen - rejected
    total = lambda values: jnp.sum(values * weight)
    return {
        Metric.LOSS: total(-jax.nn.log_sigmoid(margin)),
        Metric.PAIRS: jnp.sum(weight),
        Metric.CHOSEN_REWARD: total(chosen),
        Metric.REJECTED_REWARD: total(rejected),
        Metric.REWARD_MARGIN: total(margin),
        Metric.REWARD_ACCURACY: total((margin > 0).astype(jnp.float32)),
        Metric.CHOSEN_LOGP: total(policy[..., 0]),
        Metric.REJECTED_LOGP: total(policy[..., 1]),
    }


def pair_means(totals: dict) -> dict:
    """Sums over a batch (or an evaluation) → the per-pair means metrics.jsonl reports."""
    pairs = jnp.maximum(totals[Metric.PAIRS], 1.0)
    means = {key: totals[key] / pairs for key in SUM_KEYS if key not in COUNT_KEYS}
    return {**means, Metric.PAIRS: totals[Metric.PAIRS], Metric.LOSS_TOKENS: totals[TOKENS]}
