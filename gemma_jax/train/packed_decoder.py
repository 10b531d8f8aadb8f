"""Run a Keras-Hub Gemma backbone on packed rows.

Keras-Hub's backbones build a causal + padding mask and contiguous RoPE
positions, which would let packed examples attend to each other. This layer
drives the backbone's own sub-layers (embedding, norms, projections, its
attention kernel) with a block-diagonal causal mask from segment ids and RoPE
at per-segment positions, and stops at the final norm: the output head is the
loss's job, so the full [batch, seq, vocab] logits never exist.
"""

from __future__ import annotations

import keras
from keras import ops

from gemma_jax.train.chunked_loss import gather_loss_positions
from gemma_jax.train.lora_projection import project
from gemma_jax.train.tied_remat import rematerialized


def segment_causal_mask(segment_ids):
    """[B, S, S] bool: attend to earlier tokens of the same segment only."""
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    length = segment_ids.shape[1]
    causal = ops.tril(ops.ones((length, length), dtype="bool"))
    return ops.logical_and(same, causal[None])


def _rope(attention, x, positions):
    if hasattr(attention, "use_query_key_norm"):  # Gemma 3: plain RoPE
        return attention.rope_layer(x, positions=positions)
    return attention._apply_rope(x, 0, positions=positions)  # Gemma 1/2 reorder the halves


def _attention(attention, x, mask, positions):
    query = project(attention.query_dense, x)
    key = project(attention.key_dense, x)
    if getattr(attention, "use_query_key_norm", False):
        query = attention.query_norm(query)
        key = attention.key_norm(key)
    query = _rope(attention, query, positions)
    key = _rope(attention, key, positions)
    value = project(attention.value_dense, x)
    # The layer's own kernel: scaling, soft cap, sliding window (by token distance,
    # which inside a segment equals position distance), fused op where available.
    output = attention._compute_attention(query, key, value, mask)
    return project(attention.output_dense, output)


def _decoder_block(block, x, mask, positions):
    attended = _attention(block.attention, block.pre_attention_norm(x), mask, positions)
    if block.use_post_attention_norm:
        attended = block.post_attention_norm(attended)
    x = x + attended
    normalized = block.pre_ffw_norm(x)
    gate = keras.activations.gelu(project(block.gating_ffw, normalized), approximate=True)
    hidden = project(block.ffw_linear, gate * project(block.gating_ffw_2, normalized))
    if block.use_post_ffw_norm:
        hidden = block.post_ffw_norm(hidden)
    return x + hidden


class PackedDecoder(keras.layers.Layer):
    """Hidden states (before the final norm) of a Gemma backbone for packed rows.

    Its variables are exactly the backbone's, in the same order, so
    `stateless_call(backbone.trainable_variables, backbone.non_trainable_variables, ...)`
    values line up.
    """

    def __init__(self, backbone: keras.Model, remat: bool = False, **kwargs):
        super().__init__(dtype=backbone.dtype_policy, **kwargs)
        self.backbone = backbone
        self.remat = remat
        self.built = True

    def call(self, token_ids, segment_ids, positions, loss_index=None):
        """Final-normed hidden states, and the embedding the output head shares.

        With `loss_index` [G, C] only those positions come back, as [G*C, hidden];
        everything runs inside this call so a stateless_call sees the traced weights.
        """
        hidden = self.hidden_states(token_ids, segment_ids, positions)
        if loss_index is not None:
            hidden = gather_loss_positions(hidden, loss_index)
        return self.backbone.layer_norm(hidden), self.backbone.token_embedding.embeddings.value

    def hidden_states(self, token_ids, segment_ids, positions):
        backbone = self.backbone
        x = backbone.token_embedding(token_ids)
        x = x * ops.cast(ops.sqrt(backbone.hidden_dim), x.dtype)
        mask = segment_causal_mask(segment_ids)
        for block in backbone.transformer_layers:
            if self.remat:
                variables = block.variables
                rematted = rematerialized(variables, lambda h, aux, b=block: _decoder_block(b, h, *aux))
                x = rematted([v.value for v in variables], x, (mask, positions))
            else:
                x = _decoder_block(block, x, mask, positions)
        return x
