"""Run a Keras-Hub Gemma backbone on packed rows.

Keras-Hub's backbones build a causal + padding mask and contiguous RoPE
positions, which would let packed examples attend to each other. This layer
drives the backbone's own sub-layers (embedding, norms, projections, its
attention kernel) with a block-diagonal causal mask from segment ids and RoPE
at per-segment positions, and stops at the final norm: the output head is the
loss's job, so the full [batch, seq, vocab] logits never exist.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
from keras import ops

from gemma_jax.compat.keras_hub import apply_rope
from gemma_jax.train.chunked_loss import gather_loss_positions
from gemma_jax.train.lora_projection import LoraDropout, project
from gemma_jax.train.mixed_einsum import accumulate_in_float32
from gemma_jax.train.packed_attention import packed_attention
from gemma_jax.train.tied_remat import rematerialized


def segment_causal_mask(segment_ids):
    """[B, S, S] bool: attend to earlier tokens of the same segment only."""
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    length = segment_ids.shape[1]
    causal = ops.tril(ops.ones((length, length), dtype="bool"))
    return ops.logical_and(same, causal[None])


def _dropout(dropout: LoraDropout | None, index: int) -> LoraDropout | None:
    return None if dropout is None else dropout.at(index)


def _attention(attention, x, mask, positions, dropout: LoraDropout | None = None):
    query = project(attention.query_dense, x, _dropout(dropout, 0))
    key = project(attention.key_dense, x, _dropout(dropout, 1))
    if getattr(attention, "use_query_key_norm", False):
        query = attention.query_norm(query)
        key = attention.key_norm(key)
    query = apply_rope(attention, query, positions)
    key = apply_rope(attention, key, positions)
    value = project(attention.value_dense, x, _dropout(dropout, 2))
    # The layer's own scaling, soft cap and sliding window (by token distance, which inside a
    # segment equals position distance); its own kernel unless bf16 dots want float32 sums.
    output = packed_attention(attention, query, key, value, mask)
    return project(attention.output_dense, output, _dropout(dropout, 3))


def _decoder_block(block, x, mask, positions, dropout: LoraDropout | None = None):
    attended = _attention(block.attention, block.pre_attention_norm(x), mask, positions, dropout)
    if block.use_post_attention_norm:
        attended = block.post_attention_norm(attended)
    x = x + attended
    normalized = block.pre_ffw_norm(x)
    # With bf16 dots summing in float32, the gate's and up projection's sums stay float32 through
    # the GELU and product (no bf16 round trips on the largest activations); one rounding feeds the down projection.
    wide = jnp.float32 if accumulate_in_float32(normalized.dtype) else None
    gate = project(block.gating_ffw, normalized, _dropout(dropout, 4), out_dtype=wide)
    gate = keras.activations.gelu(gate, approximate=True)
    gated = (gate * project(block.gating_ffw_2, normalized, _dropout(dropout, 5), out_dtype=wide)).astype(x.dtype)
    hidden = project(block.ffw_linear, gated, _dropout(dropout, 6))
    if block.use_post_ffw_norm:
        hidden = block.post_ffw_norm(hidden)
    return x + hidden


class PackedDecoder(keras.layers.Layer):
    """Hidden states (before the final norm) of a Gemma backbone for packed rows.

    Its variables are exactly the backbone's, in the same order, so
    `stateless_call(backbone.trainable_variables, backbone.non_trainable_variables, ...)`
    values line up.
    """

    def __init__(self, backbone: keras.Model, remat: bool = False, lora_dropout: float = 0.0, **kwargs):
        super().__init__(dtype=backbone.dtype_policy, **kwargs)
        self.backbone = backbone
        self.remat = remat
        self.lora_dropout = lora_dropout  # applied only when a call gets a dropout_key (training)
        self.built = True

    def call(self, token_ids, segment_ids, positions, loss_index=None, dropout_key=None):
        """Final-normed hidden states, and the embedding the output head shares.

        With `loss_index` [G, C] only those positions come back, as [G*C, hidden];
        everything runs inside this call so a stateless_call sees the traced weights.
        A `dropout_key` turns on LoRA dropout (at `lora_dropout`) for this call.
        """
        hidden = self.hidden_states(token_ids, segment_ids, positions, dropout_key)
        if loss_index is not None:
            hidden = gather_loss_positions(hidden, loss_index)
        return self.backbone.layer_norm(hidden), self.backbone.token_embedding.embeddings.value

    def hidden_states(self, token_ids, segment_ids, positions, dropout_key=None):
        backbone = self.backbone
        if not self.lora_dropout:
            dropout_key = None
        x = backbone.token_embedding(token_ids)
        x = x * ops.cast(ops.sqrt(backbone.hidden_dim), x.dtype)
        mask = segment_causal_mask(segment_ids)
        for index, block in enumerate(backbone.transformer_layers):
            key = None if dropout_key is None else jax.random.fold_in(dropout_key, index)
            if self.remat:
                variables = block.variables
                rematted = rematerialized(
                    variables, lambda h, aux, b=block: _decoder_block(b, h, aux[0], aux[1], self._dropout(aux[2]))
                )
                x = rematted([v.value for v in variables], x, (mask, positions, key))
            else:
                x = _decoder_block(block, x, mask, positions, self._dropout(key))
        return x

    def _dropout(self, key) -> LoraDropout | None:
        return None if key is None else LoraDropout(self.lora_dropout, key)
