"""Read a Gemma GGUF file's `<arch>.*` metadata into the settings every Gemma generation shares.

llama.cpp's converters (convert_hf_to_gguf.py, GemmaModel/Gemma2Model/Gemma3Model)
write the same core keys for Gemma 1, 2 and 3: embedding/feed-forward length,
block count, head counts, key/value head size and the RMSNorm epsilon. What a
generation fixes without storing it (RoPE bases, layer patterns, query scaling)
is the importer's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gemma_jax.models.gguf.errors import GGUFImportError
from gemma_jax.models.gguf.reader import GGUFFile

MetaReader = Callable[..., Any]


def check_architecture(gguf: GGUFFile, accepted: tuple[str, ...], what: str) -> str:
    """`general.architecture` if it is one of `accepted`, else GGUFImportError naming what is accepted."""
    arch = gguf.architecture
    names = " or ".join(f"'{name}'" for name in accepted)
    if arch is None:
        raise GGUFImportError(f"'{gguf.path}' has no general.architecture; only {what} ({names}) files can be imported")
    if arch not in accepted:
        raise GGUFImportError(
            f"'{gguf.path}' holds a '{arch}' model (general.architecture); only {what} ({names}) "
            "GGUF files can be imported here"
        )
    return arch


def metadata_reader(gguf: GGUFFile, model_name: str) -> MetaReader:
    """`meta(name, default=None)`: the value of `<arch>.<name>`, the default, or (no default) an error."""
    arch = gguf.architecture

    def meta(name: str, default: Any = None) -> Any:
        key = f"{arch}.{name}"
        if key in gguf.metadata:
            return gguf.metadata[key]
        if default is None:
            raise GGUFImportError(f"'{gguf.path}' has no '{key}' metadata; it is not a complete {model_name} GGUF")
        return default

    return meta


def shared_config(gguf: GGUFFile, meta: MetaReader) -> dict:
    """The backbone keyword arguments Gemma 1, 2 and 3 read alike (Keras-Hub names)."""
    hidden = int(meta("embedding_length"))
    num_heads = int(meta("attention.head_count"))
    head_dim = int(meta("attention.key_length", hidden // num_heads))
    value_dim = int(meta("attention.value_length", head_dim))
    if value_dim != head_dim:
        raise GGUFImportError(f"'{gguf.path}': value head size {value_dim} differs from key head size {head_dim}")
    rope_dims = int(meta("rope.dimension_count", head_dim))
    if rope_dims != head_dim:
        raise GGUFImportError(
            f"'{gguf.path}': RoPE over {rope_dims} of {head_dim} head dimensions is not supported (Gemma rotates all)"
        )
    embedding = gguf.tensors.get("token_embd.weight")
    if embedding is None:
        raise GGUFImportError(f"'{gguf.path}' has no token_embd.weight tensor")
    return {
        "vocabulary_size": int(embedding.numpy_shape[0]),
        "num_layers": int(meta("block_count")),
        "num_query_heads": num_heads,
        "num_key_value_heads": int(meta("attention.head_count_kv", num_heads)),
        "hidden_dim": hidden,
        "head_dim": head_dim,
        # stored as float32: 1e-6 reads back as 9.999999974752427e-07
        "layer_norm_epsilon": round(float(meta("attention.layer_norm_rms_epsilon", 1e-6)), 12),
    }


def rope_scaling_factor(gguf: GGUFFile) -> float:
    """The linear RoPE scaling factor (1.0 for none); GGUFImportError for other scaling types."""
    arch = gguf.architecture
    scaling_type = gguf.metadata.get(f"{arch}.rope.scaling.type", "none")
    if scaling_type not in ("none", "linear"):
        raise GGUFImportError(f"'{gguf.path}': RoPE scaling '{scaling_type}' is not supported (only linear)")
    if scaling_type == "none":
        return 1.0
    return float(gguf.metadata.get(f"{arch}.rope.scaling.factor", 1.0) or 1.0)


def check_rope_base(gguf: GGUFFile, meta: MetaReader, expected: float, backbone_name: str) -> None:
    """GGUFImportError unless `<arch>.rope.freq_base` (default `expected`) is the base Keras-Hub hard-codes."""
    rope_base = float(meta("rope.freq_base", expected))
    if rope_base != expected:
        raise GGUFImportError(
            f"'{gguf.path}': RoPE base {rope_base:g} is not {expected:g}, which Keras-Hub's {backbone_name} hard-codes"
        )
