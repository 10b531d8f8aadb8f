"""Keras-Hub Gemma backbone -> GGUF tensors, named and laid out as llama.cpp's convert_hf_to_gguf.py writes them.

A GGUF matrix is in Hugging Face's (out, in) layout; llama.cpp names the tensors alike for Gemma
1, 2 and 3 (`gguf.get_tensor_name_map`) and stores every RMSNorm weight as ``1 + w`` (its Gemma
classes add 1 because ggml's norm multiplies by the weight alone). This is the inverse of the
importer's mapping (`gemma_jax.models.gguf.weights`); no `output.weight` is written, the head is
tied to the embedding.

Which ggml type each tensor gets (`tensor_types`) follows llama.cpp: convert_hf_to_gguf.py's
outtypes for f16 and q8_0 (norms and other 1-D tensors F32, every 2-D matrix F16 or Q8_0, Q8_0
falling back to F16 where a row is not a multiple of 32), and llama-quant.cpp's Q4_K_M mix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType
from gguf import quants as gguf_quants

from gemma_jax.export.kquants import quantize_k

Q = GGMLQuantizationType
QUANTIZATIONS = ("f16", "q8_0", "q4_k_m")
FILE_TYPES = {"f16": LlamaFileType.MOSTLY_F16, "q8_0": LlamaFileType.MOSTLY_Q8_0, "q4_k_m": LlamaFileType.MOSTLY_Q4_K_M}
# llama-quant.cpp's tensor_type_fallback: a type whose block does not divide the row length.
K_FALLBACK = {Q.Q4_K: Q.Q5_0, Q.Q6_K: Q.Q8_0}


@dataclass(frozen=True)
class TensorSource:
    """One GGUF tensor: its llama.cpp name, numpy shape (HF layout) and how to compute it (float32)."""

    name: str
    shape: tuple[int, ...]
    load: Callable[[], np.ndarray]


def _value(variable) -> np.ndarray:
    from keras import ops

    return np.asarray(ops.convert_to_numpy(variable.value), np.float32)


def _norm(variable) -> Callable[[], np.ndarray]:
    return lambda: _value(variable) + np.float32(1.0)


def _heads_in(variable) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:  # Keras (heads, hidden, head_dim) -> HF (heads * head_dim, hidden)
        kernel = _value(variable)
        return np.ascontiguousarray(kernel.transpose(0, 2, 1).reshape(-1, kernel.shape[1]))

    return load


def _heads_out(variable) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:  # Keras (heads, head_dim, hidden) -> HF (hidden, heads * head_dim)
        kernel = _value(variable)
        return np.ascontiguousarray(kernel.transpose(2, 0, 1).reshape(kernel.shape[2], -1))

    return load


def _transposed(variable) -> Callable[[], np.ndarray]:
    return lambda: np.ascontiguousarray(_value(variable).T)


def _shape(variable, kind: str) -> tuple[int, ...]:
    shape = tuple(int(n) for n in variable.shape)
    if kind == "heads_in":
        return (shape[0] * shape[2], shape[1])
    if kind == "heads_out":
        return (shape[2], shape[0] * shape[1])
    if kind == "transposed":
        return shape[::-1]
    return shape


_LOADERS = {"norm": _norm, "heads_in": _heads_in, "heads_out": _heads_out, "transposed": _transposed}


def tensor_sources(backbone, vocabulary_rows: int | None = None) -> list[TensorSource]:
    """Every tensor llama.cpp expects of a GemmaBackbone (Gemma 1/2) or text Gemma3Backbone, in file order.

    `vocabulary_rows` keeps only the first rows of the embedding (convert_hf_to_gguf.py's Gemma 3
    class drops rows past the tokenizer's vocabulary)."""
    sources: list[TensorSource] = []

    def add(name: str, variable, kind: str) -> None:
        load = _LOADERS[kind](variable)
        sources.append(TensorSource(name, _shape(variable, kind), load))

    embeddings = backbone.get_layer("token_embedding").embeddings
    rows = int(embeddings.shape[0]) if vocabulary_rows is None else vocabulary_rows
    sources.append(
        TensorSource("token_embd.weight", (rows, int(embeddings.shape[1])), lambda: _value(embeddings)[:rows])
    )
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"decoder_block_{i}")
        attention = block.attention
        add(f"blk.{i}.attn_norm.weight", block.pre_attention_norm.scale, "norm")
        if getattr(attention, "use_query_key_norm", False):
            add(f"blk.{i}.attn_q_norm.weight", attention.query_norm.scale, "norm")
            add(f"blk.{i}.attn_k_norm.weight", attention.key_norm.scale, "norm")
        add(f"blk.{i}.attn_q.weight", attention.query_dense.kernel, "heads_in")
        add(f"blk.{i}.attn_k.weight", attention.key_dense.kernel, "heads_in")
        add(f"blk.{i}.attn_v.weight", attention.value_dense.kernel, "heads_in")
        add(f"blk.{i}.attn_output.weight", attention.output_dense.kernel, "heads_out")
        if block.use_post_attention_norm:
            add(f"blk.{i}.post_attention_norm.weight", block.post_attention_norm.scale, "norm")
        # Gemma 1's pre-FFW norm (HF: post_attention_layernorm) is llama.cpp's ffn_norm, as in Gemma 2/3.
        add(f"blk.{i}.ffn_norm.weight", block.pre_ffw_norm.scale, "norm")
        add(f"blk.{i}.ffn_gate.weight", block.gating_ffw.kernel, "transposed")
        add(f"blk.{i}.ffn_up.weight", block.gating_ffw_2.kernel, "transposed")
        add(f"blk.{i}.ffn_down.weight", block.ffw_linear.kernel, "transposed")
        if block.use_post_ffw_norm:
            add(f"blk.{i}.post_ffw_norm.weight", block.post_ffw_norm.scale, "norm")
    add("output_norm.weight", backbone.get_layer("final_normalization").scale, "norm")
    return sources


def gguf_tensors(backbone) -> dict[str, np.ndarray]:
    """All of `tensor_sources` computed at once: name -> float32 array (for small models and tests)."""
    return {source.name: source.load() for source in tensor_sources(backbone)}


# --- types ----------------------------------------------------------------------------------------


def _use_more_bits(layer: int, layers: int) -> bool:
    """llama-quant.cpp's rule for the layers whose attn_v / ffn_down get Q6_K in Q4_K_M."""
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def _fits(qtype: GGMLQuantizationType, row: int) -> bool:
    return qtype in (Q.F32, Q.F16) or row % GGML_QUANT_SIZES[qtype][0] == 0


def _q4_k_m_type(name: str, row: int, layers: int) -> GGMLQuantizationType:
    """llama_tensor_get_type for LLAMA_FTYPE_MOSTLY_Q4_K_M (no imatrix, tied embedding), then its fallback."""
    if name == "token_embd.weight":  # tied: quantized like the output head
        return Q.Q6_K if row % 256 == 0 else Q.Q8_0
    qtype = Q.Q4_K
    layer = int(name.split(".")[1])
    if name.endswith((".attn_v.weight", ".ffn_down.weight")) and _use_more_bits(layer, layers):
        qtype = Q.Q6_K
    if not _fits(qtype, row):
        qtype = K_FALLBACK[qtype]
        if not _fits(qtype, row):
            qtype = Q.F16
    return qtype


def tensor_type(source: TensorSource, quantization: str, layers: int) -> GGMLQuantizationType:
    """The ggml type llama.cpp would store `source` in for `quantization` (f16, q8_0, q4_k_m)."""
    if len(source.shape) < 2 or source.name.endswith("_norm.weight"):
        return Q.F32
    row = source.shape[-1]
    if quantization == "f16":
        return Q.F16
    if quantization == "q8_0":
        return Q.Q8_0 if _fits(Q.Q8_0, row) else Q.F16  # convert_hf_to_gguf.py's QuantError fallback
    if quantization == "q4_k_m":
        return _q4_k_m_type(source.name, row, layers)
    raise ValueError(f"unknown GGUF quantization {quantization!r}; use one of {', '.join(QUANTIZATIONS)}")


def encode(data: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """`data` stored as `qtype`: float arrays for F32/F16, uint8 blocks (rows, bytes) for quantized types."""
    if qtype in (Q.Q4_K, Q.Q6_K):
        return quantize_k(data, qtype)
    return gguf_quants.quantize(np.asarray(data, np.float32), qtype)


def nbytes(shape: tuple[int, ...], qtype: GGMLQuantizationType) -> int:
    """Bytes a tensor of `shape` takes stored as `qtype`."""
    block, size = GGML_QUANT_SIZES[qtype]
    return int(np.prod(shape[:-1], dtype=np.int64)) * shape[-1] // block * size
