"""The decoder's weights, taken from a Keras-Hub backbone and laid out for decoding.

Each decoder block's projections become three [out, in] matrices: query, key and
value stacked into one, the attention output, and both feed-forward gates stacked
into one, plus the down projection. LoRA adapters are merged into the kernel
(`K + alpha/rank · A@B`, what Keras' `EinsumDense.kernel` computes), so decoding
runs on plain matrices. Quantized Keras layers (QLoRA's int8/int4 base) are read
by applying the layer to an identity matrix, which yields exactly the matrix the
layer multiplies by. Norm scales are stored as `1 + scale`.
"""

from __future__ import annotations

import functools
import weakref

import jax
import jax.numpy as jnp
import keras
import numpy as np

from gemma_jax.compat.keras import stored_kernel
from gemma_jax.models.decoding.config import DecoderConfig
from gemma_jax.models.decoding.matrix import WEIGHT_DTYPES, Matrix
from gemma_jax.models.decoding.shortlist import SHORTLIST_DTYPES, ShortlistHead

# Projection → (attribute path in a decoder block, the equation whose kernel layout we know).
_PROJECTIONS = {
    "query": (("attention", "query_dense"), "btd,ndh->btnh"),
    "key": (("attention", "key_dense"), "bsd,kdh->bskh"),
    "value": (("attention", "value_dense"), "bsd,kdh->bskh"),
    "attention_output": (("attention", "output_dense"), "btnh,nhd->btd"),
    "ffw_gating": (("gating_ffw",), "btd,df->btf"),
    "ffw_gating_2": (("gating_ffw_2",), "btd,df->btf"),
    "ffw_linear": (("ffw_linear",), "btf,fd->btd"),
}
_NORMS = ("pre_attention_norm", "post_attention_norm", "pre_ffw_norm", "post_ffw_norm")


def _layer(block, path):
    for attribute in path:
        block = getattr(block, attribute)
    return block


def _probe(layer: keras.layers.EinsumDense, feature_shape: tuple[int, ...]) -> jax.Array:
    """[in, out] float32 matrix of any linear EinsumDense: the layer applied to the identity."""
    size = int(np.prod(feature_shape))
    identity = np.eye(size, dtype=np.float32).reshape(1, size, *feature_shape)
    out = layer(keras.ops.cast(identity, layer.compute_dtype))
    return jnp.asarray(out, jnp.float32).reshape(size, -1)


def _projection_source(name: str, layer: keras.layers.EinsumDense, config: DecoderConfig) -> dict:
    """What `_prepare` needs to build the [in, out] matrix of one projection."""
    _, equation = _PROJECTIONS[name]
    if getattr(layer, "quantization_mode", None) or layer.equation != equation:
        if name == "attention_output":
            features = (config.num_query_heads, config.head_dim)
        else:
            features = (int(stored_kernel(layer).shape[0]) if name == "ffw_linear" else config.hidden_dim,)
        return {"in_out": _probe(layer, features)}
    source = {"kernel": stored_kernel(layer).value}
    if getattr(layer, "lora_enabled", False):
        source["lora_a"] = layer.lora_kernel_a.value
        source["lora_b"] = layer.lora_kernel_b.value
        source["lora_scale"] = jnp.float32(layer.lora_alpha / layer.lora_rank)
    return source


def _source_arrays(backbone: keras.Model, config: DecoderConfig) -> dict:
    embedding = backbone.token_embedding
    if getattr(embedding, "quantization_mode", None):
        raise ValueError("fast generation needs a float token embedding; this backbone's embedding is quantized")
    layers = []
    for block in backbone.transformer_layers:
        layer = {
            name: _projection_source(name, _layer(block, path), config) for name, (path, _) in _PROJECTIONS.items()
        }
        for norm in _NORMS:
            if hasattr(block, norm):
                layer[norm] = getattr(block, norm).scale.value
        if config.use_query_key_norm:
            layer["query_norm"] = block.attention.query_norm.scale.value
            layer["key_norm"] = block.attention.key_norm.scale.value
        layers.append(layer)
    return {"embedding": embedding.embeddings.value, "final_norm": backbone.layer_norm.scale.value, "layers": layers}


def _merged_in_out(name: str, source: dict) -> jax.Array:
    if "in_out" in source:
        return source["in_out"]
    kernel = source["kernel"].astype(jnp.float32)
    if "lora_a" in source:
        a, b = source["lora_a"].astype(jnp.float32), source["lora_b"].astype(jnp.float32)
        kernel = kernel + source["lora_scale"] * jnp.matmul(a, b)
    if name in ("query", "key", "value"):  # [heads, in, head_dim] → [in, heads·head_dim]
        return jnp.transpose(kernel, (1, 0, 2)).reshape(kernel.shape[1], -1)
    if name == "attention_output":  # [heads, head_dim, out] → [heads·head_dim, out]
        return kernel.reshape(-1, kernel.shape[-1])
    return kernel


def _norm(scale: jax.Array | None) -> jax.Array | None:
    return None if scale is None else 1.0 + scale.astype(jnp.float32)


def _query_key_norm(source: dict, config: DecoderConfig) -> jax.Array | None:
    """[query heads + key heads, head_dim] `1 + scale` rows, to normalize queries and keys in one go."""
    if "query_norm" not in source:
        return None
    rows = [source["query_norm"]] * config.num_query_heads + [source["key_norm"]] * config.num_key_value_heads
    return _norm(jnp.stack(rows))


@functools.partial(jax.jit, static_argnames=("config", "weight_dtype", "shortlist"))
def _prepare(sources: dict, config: DecoderConfig, weight_dtype: str, shortlist: bool) -> dict:
    def pack(*names_in_out):
        return Matrix.pack(jnp.concatenate(names_in_out, axis=1).T, weight_dtype)

    layers = []
    for source in sources["layers"]:
        m = {name: _merged_in_out(name, source[name]) for name in _PROJECTIONS}
        layers.append(
            {
                "qkv": pack(m["query"], m["key"], m["value"]),
                "attention_output": pack(m["attention_output"]),
                "gating": pack(m["ffw_gating"], m["ffw_gating_2"]),
                "linear": pack(m["ffw_linear"]),
                "query_key_norm": _query_key_norm(source, config),
                **{norm: _norm(source.get(norm)) for norm in _NORMS},
            }
        )
    weights = {
        "embedding": Matrix.pack(sources["embedding"], weight_dtype),
        "final_norm": _norm(sources["final_norm"]),
        "layers": layers,
    }
    if shortlist:  # bounds against the head as stored (bf16 rows are exact in float32)
        weights["shortlist"] = ShortlistHead.pack(weights["embedding"].values)
    return weights


class DecoderWeights:
    """A backbone's weights in decoding layout, rebuilt only when a Keras variable changed.

    Training replaces variable values between generation calls (new arrays), so
    the cache remembers each value by weak reference and compares identities:
    unchanged weights cost nothing, and old values are not kept alive.
    """

    def __init__(self, backbone: keras.Model, weight_dtype: str = "float32", shortlist: bool = False):
        if weight_dtype not in WEIGHT_DTYPES:
            raise ValueError(f"unknown weight dtype {weight_dtype!r}; use one of {', '.join(WEIGHT_DTYPES)}")
        if shortlist and weight_dtype not in SHORTLIST_DTYPES:
            raise ValueError("the int8 shortlist serves float32 and bfloat16 weights; int8 weights read their own head")
        self.backbone = backbone
        self.weight_dtype = weight_dtype
        self.shortlist = shortlist
        self.config = DecoderConfig.from_backbone(backbone)
        self._seen: list[weakref.ref] = []
        self._weights: dict | None = None

    def _changed(self, values: list) -> bool:
        return len(values) != len(self._seen) or any(ref() is not value for ref, value in zip(self._seen, values))

    def current(self) -> dict:
        """The weights pytree for `decode` functions, matching the backbone's variables now."""
        values = [variable.value for variable in self.backbone.variables]
        if self._weights is None or self._changed(values):
            self._weights = None  # free the old layout before building the new one
            self._weights = _prepare(
                _source_arrays(self.backbone, self.config), self.config, self.weight_dtype, self.shortlist
            )
            self._seen = [weakref.ref(value) for value in values]
        return self._weights
