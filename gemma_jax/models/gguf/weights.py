"""GGUF tensors -> Keras-Hub Gemma variables: the layout transforms and one checked import.

A dequantized GGUF tensor is in Hugging Face's layout (out, in), so the
reshapes/transposes are those of Keras-Hub's own transformers converters
(`keras_hub/src/utils/transformers/convert_gemma.py`, `convert_gemma3.py`).
llama.cpp stores every Gemma RMSNorm weight with 1 added (Gemma's norms scale
by ``1 + w``; convert_hf_to_gguf.py's Gemma, Gemma 2 and Gemma 3 classes add
it), so 1 is taken off again. llama.cpp names the tensors alike for all three
generations (`gguf.get_tensor_name_map`): only which norms a block has differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gemma_jax.models.gguf.errors import GGUFImportError
from gemma_jax.models.gguf.fast_init import skip_random_init
from gemma_jax.models.gguf.reader import GGUFFile
from gemma_jax.models.gguf.tokenizer_proto import TokenizerProtoError, sentencepiece_proto_from_gguf

Transform = Callable[[np.ndarray, tuple[int, ...]], np.ndarray]
WeightPlan = list[tuple[str, Any, Transform]]  # (GGUF tensor name, Keras variable, transform)


def norm(x: np.ndarray, _shape) -> np.ndarray:
    return x - 1.0  # llama.cpp stores Gemma's RMSNorm weights as 1 + w


def heads_in(x: np.ndarray, shape) -> np.ndarray:
    # HF (heads * head_dim, hidden) -> Keras (heads, hidden, head_dim)
    return np.transpose(np.reshape(x, (shape[0], shape[2], shape[1])), (0, 2, 1))


def heads_out(x: np.ndarray, shape) -> np.ndarray:
    # HF (hidden, heads * head_dim) -> Keras (heads, head_dim, hidden)
    return np.transpose(np.reshape(x, (shape[2], shape[0], shape[1])), (1, 2, 0))


def transpose(x: np.ndarray, _shape) -> np.ndarray:
    return np.transpose(x)


def same(x: np.ndarray, _shape) -> np.ndarray:
    return x


def embedding_plan(backbone) -> WeightPlan:
    """The token embedding (tied with the output head) and the final norm."""
    return [
        ("token_embd.weight", backbone.get_layer("token_embedding").embeddings, same),
        ("output_norm.weight", backbone.get_layer("final_normalization").scale, norm),
    ]


def block_plan(i: int, block) -> WeightPlan:
    """Decoder block `i`'s norms (those it has), attention projections and gated feed-forward."""
    attention = block.attention
    # Gemma 1's pre-FFW norm (HF: post_attention_layernorm) is llama.cpp's ffn_norm too.
    norms = [("attn_norm", block.pre_attention_norm), ("ffn_norm", block.pre_ffw_norm)]
    if block.use_post_attention_norm:
        norms.append(("post_attention_norm", block.post_attention_norm))
    if block.use_post_ffw_norm:
        norms.append(("post_ffw_norm", block.post_ffw_norm))
    return [(f"blk.{i}.{name}.weight", layer.scale, norm) for name, layer in norms] + [
        (f"blk.{i}.attn_q.weight", attention.query_dense.kernel, heads_in),
        (f"blk.{i}.attn_k.weight", attention.key_dense.kernel, heads_in),
        (f"blk.{i}.attn_v.weight", attention.value_dense.kernel, heads_in),
        (f"blk.{i}.attn_output.weight", attention.output_dense.kernel, heads_out),
        (f"blk.{i}.ffn_gate.weight", block.gating_ffw.kernel, transpose),
        (f"blk.{i}.ffn_up.weight", block.gating_ffw_2.kernel, transpose),
        (f"blk.{i}.ffn_down.weight", block.ffw_linear.kernel, transpose),
    ]


def _dequantize(gguf: GGUFFile, name: str) -> np.ndarray:
    try:
        return gguf.dequantize(name)
    except NotImplementedError as error:  # a ggml type the `gguf` package cannot dequantize yet
        kind = gguf.tensors[name].ggml_type.name
        raise GGUFImportError(
            f"'{gguf.path}': tensor '{name}' is stored as {kind}, which the installed `gguf` package cannot "
            "dequantize; use a file quantized with another type (e.g. Q8_0, Q4_K_M) or upgrade `gguf`"
        ) from error


def assign_weights(gguf: GGUFFile, backbone, plan: WeightPlan, model_name: str) -> None:
    """Set every weight of `backbone` from the file, after checking the plan covers exactly
    the backbone's weights and the file's tensors."""
    planned = {id(variable) for _, variable, _ in plan}
    left = [v.path for v in backbone.weights if id(v) not in planned]
    if left:
        raise GGUFImportError(f"the importer sets no value for {len(left)} weight(s), e.g. {', '.join(left[:5])}")
    names = {name for name, _, _ in plan}
    missing = sorted(names - set(gguf.tensors))
    if missing:
        raise GGUFImportError(
            f"'{gguf.path}' lacks {len(missing)} tensor(s) a {model_name} model needs, e.g. {', '.join(missing[:5])}"
        )
    unused = sorted(set(gguf.tensors) - names)
    if unused:
        raise GGUFImportError(
            f"'{gguf.path}' has tensors the {model_name} importer does not know, e.g. {', '.join(unused[:5])}"
        )
    for name, variable, transform in plan:
        values = transform(_dequantize(gguf, name), tuple(variable.shape))
        if tuple(values.shape) != tuple(variable.shape):
            raise GGUFImportError(
                f"'{gguf.path}': tensor '{name}' gives shape {values.shape}, the model expects {variable.shape}"
            )
        variable.assign(np.ascontiguousarray(values))
        del values


def tokenizer_proto(gguf: GGUFFile, vocabulary_size: int) -> bytes:
    """The SentencePiece model rebuilt from the file, checked against the embedding's rows."""
    try:
        proto = sentencepiece_proto_from_gguf(gguf.metadata)
    except TokenizerProtoError as error:
        raise GGUFImportError(f"'{gguf.path}': {error}") from error
    tokens = len(gguf.metadata.get("tokenizer.ggml.tokens", ()))
    if tokens > vocabulary_size:
        raise GGUFImportError(
            f"'{gguf.path}': the tokenizer has {tokens} tokens but the embedding only {vocabulary_size} rows"
        )
    return proto


def import_backbone(
    gguf: GGUFFile,
    backbone_class: type,
    config: dict,
    plan: Callable[[Any], WeightPlan],
    dtype: str,
    model_name: str,
):
    """Build `backbone_class(**config)` and fill it from the file: returns (backbone, SentencePiece proto)."""
    from gemma_jax.models.sources.keras_fixes import apply_keras_hub_fixes

    proto = tokenizer_proto(gguf, config["vocabulary_size"])
    with skip_random_init():  # every weight is set from the file below
        backbone = backbone_class(**config, dtype=dtype)
    apply_keras_hub_fixes(backbone)  # Keras-Hub drops query_head_dim_normalize=False in its decoder blocks
    assign_weights(gguf, backbone, plan(backbone), model_name)
    return backbone, proto
