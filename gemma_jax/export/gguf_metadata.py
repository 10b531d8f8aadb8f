"""The GGUF metadata llama.cpp needs for a Gemma model: architecture, hyperparameters, vocabulary, chat template.

What is written, and how, is what llama.cpp's convert_hf_to_gguf.py writes for a Hugging Face
Gemma checkpoint (GemmaModel, Gemma2Model, Gemma3Model and `_set_vocab_sentencepiece`). The
architecture is read from the backbone, not from `LoadedModel.family` (which says "gemma" for
Gemma 1 and 2 alike): post-attention/post-FFW norms, soft caps and sliding windows make Gemma 2.
Settings llama.cpp fixes per architecture rather than reading (Gemma 2's alternating windows, Gemma
3's every-6th global layer and local RoPE base, the query scaling keyed on the layer count) are
checked against the backbone, so a model llama.cpp would run differently is refused, not exported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from gguf import GGUFValueType, GGUFWriter, TokenType
from sentencepiece import sentencepiece_model_pb2 as sp_pb2

from gemma_jax.export.chat_jinja import CHAT_TEMPLATE

ARCHITECTURES = ("gemma", "gemma2", "gemma3")
BASENAMES = {"gemma": "gemma", "gemma2": "gemma-2", "gemma3": "gemma-3"}
GEMMA3_GLOBAL_ROPE_BASE = 1_000_000.0
# llama.cpp keys the 1/sqrt(hidden/heads) query scaling of Gemma 2 27B and Gemma 3 27B on the layer count.
LAYERS_SCALING_BY_HIDDEN = {"gemma2": 46, "gemma3": 62}
ADDED_TOKEN_SCORE = -1000.0  # what convert_hf_to_gguf.py gives tokenizer_config's added tokens
# Gemma's tokenizer_config marks these added tokens "special": llama.cpp gets them as CONTROL tokens
# (Gemma 3 270M's file has <start_of_image>/<end_of_image> USER_DEFINED, so they are not listed).
_GEMMA_SPECIAL = re.compile(r"<(pad|eos|bos|unk|mask|start_of_turn|end_of_turn|unused\d+)>|\[@BOS@\]")
_Piece = sp_pb2.ModelProto.SentencePiece


class GGUFExportError(ValueError):
    """A model that llama.cpp's Gemma architectures cannot express, with the reason."""


def _attention(backbone):
    return backbone.get_layer("decoder_block_0").attention


def _scales_by_hidden(backbone) -> bool:
    # The query-scaling fix is set on the attention layers after construction (keras_fixes); read it there.
    return not getattr(_attention(backbone), "query_head_dim_normalize", True)


def _check_query_scaling(backbone, arch: str) -> None:
    """llama.cpp scales queries by 1/sqrt(head_dim), except 27B models by 1/sqrt(hidden/heads)."""
    by_hidden = _scales_by_hidden(backbone)
    if backbone.hidden_dim // backbone.num_query_heads == backbone.head_dim:
        return  # both scalings are the same number
    llama_by_hidden = backbone.num_layers == LAYERS_SCALING_BY_HIDDEN.get(arch)
    if by_hidden != llama_by_hidden:
        which = "1/sqrt(hidden/heads)" if by_hidden else "1/sqrt(head_dim)"
        raise GGUFExportError(
            f"the model scales queries by {which}, which llama.cpp's {arch} does only for "
            f"{'' if by_hidden else 'models other than '}{LAYERS_SCALING_BY_HIDDEN.get(arch)}-layer ones"
        )


def detect_architecture(backbone) -> str:
    """llama.cpp's `general.architecture` for the backbone: gemma, gemma2 or gemma3."""
    name = type(backbone).__name__
    if name == "Gemma3Backbone":
        if getattr(backbone, "attention_logit_soft_cap", None):
            raise GGUFExportError("llama.cpp's gemma3 has no attention logit soft cap; the model uses one")
        if float(getattr(backbone, "local_rope_scaling_factor", 1.0) or 1.0) != 1.0:
            raise GGUFExportError("llama.cpp's gemma3 does not scale RoPE on sliding-window layers; the model does")
        if not backbone.use_sliding_window_attention:  # Keras-Hub then uses the global RoPE base on every layer
            raise GGUFExportError("llama.cpp's gemma3 always has 5 sliding-window layers of 6; the model has none")
        if getattr(backbone, "use_bidirectional_attention", False):
            raise GGUFExportError("llama.cpp's gemma3 is causal; the model uses bidirectional attention")
        _check_query_scaling(backbone, "gemma3")
        return "gemma3"
    if name != "GemmaBackbone":
        raise GGUFExportError(f"GGUF export handles Gemma backbones, not {name}")
    features = {
        "post-attention norms": backbone.use_post_attention_norm,
        "post-FFW norms": backbone.use_post_ffw_norm,
        "an attention logit soft cap": bool(backbone.attention_logit_soft_cap),
        "a final logit soft cap": bool(backbone.final_logit_soft_cap),
        "sliding-window attention": backbone.use_sliding_window_attention,
    }
    if not any(features.values()):
        _check_query_scaling(backbone, "gemma")
        return "gemma"
    if not all(features.values()):
        missing = ", ".join(what for what, used in features.items() if not used)
        raise GGUFExportError(
            f"a Gemma 2 model needs all of Gemma 2's features for llama.cpp; this one lacks {missing}"
        )
    _check_query_scaling(backbone, "gemma2")
    return "gemma2"


def feed_forward_length(backbone, arch: str) -> int:
    """HF's intermediate_size: Keras-Hub's GemmaBackbone counts gate and up together (twice it)."""
    return int(backbone.intermediate_dim) // (1 if arch == "gemma3" else 2)


def add_hyperparameters(writer: GGUFWriter, backbone, arch: str, context_length: int) -> None:
    """The `<arch>.*` keys convert_hf_to_gguf.py writes for the architecture."""
    writer.add_context_length(int(context_length))
    writer.add_embedding_length(int(backbone.hidden_dim))
    writer.add_block_count(int(backbone.num_layers))
    writer.add_feed_forward_length(feed_forward_length(backbone, arch))
    writer.add_head_count(int(backbone.num_query_heads))
    writer.add_head_count_kv(int(backbone.num_key_value_heads))
    writer.add_key_length(int(backbone.head_dim))
    writer.add_value_length(int(backbone.head_dim))
    writer.add_layer_norm_rms_eps(float(backbone.layer_norm_epsilon))
    if arch == "gemma2":
        writer.add_attn_logit_softcapping(float(backbone.attention_logit_soft_cap))
        writer.add_final_logit_softcapping(float(backbone.final_logit_soft_cap))
        writer.add_sliding_window(int(backbone.sliding_window_size))
    elif arch == "gemma3":
        writer.add_rope_freq_base(GEMMA3_GLOBAL_ROPE_BASE)  # global layers; local ones are fixed at 10k
        if backbone.final_logit_soft_cap:
            writer.add_final_logit_softcapping(float(backbone.final_logit_soft_cap))
        writer.add_sliding_window(int(backbone.sliding_window_size))
        factor = float(getattr(backbone, "global_rope_scaling_factor", 1.0) or 1.0)
        if factor != 1.0:
            from gguf import RopeScalingType

            writer.add_rope_scaling_type(RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(factor)


# --- vocabulary -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """llama.cpp's three parallel arrays and the special ids, as `_set_vocab_sentencepiece` writes them."""

    tokens: list[str]
    scores: np.ndarray
    token_types: np.ndarray
    ids: dict[str, int]


def vocabulary(proto: bytes, rows: int) -> Vocabulary:
    """The SentencePiece model as convert_hf_to_gguf.py stores Gemma's: pieces with their scores;
    added tokens (user-defined pieces) score -1000, those Gemma marks special (turn markers,
    <unusedN>, <mask>, <unk>...) CONTROL, the others USER_DEFINED with spaces unescaped; padded
    with [PADi] UNUSED tokens up to the embedding's `rows`."""
    model = sp_pb2.ModelProto.FromString(proto)
    tokens: list[str] = []
    scores = np.full(rows, -10000.0, np.float32)
    types = np.full(rows, int(TokenType.UNUSED), np.int32)
    ids = {"bos": -1, "eos": -1, "unknown": -1, "padding": -1}
    roles = {"<bos>": "bos", "<eos>": "eos", "<unk>": "unknown", "<pad>": "padding"}
    for index, piece in enumerate(model.pieces):
        text, kind, score = piece.piece, piece.type, piece.score
        if kind == _Piece.UNKNOWN:
            ids["unknown"] = index
        if text in roles and kind in (_Piece.CONTROL, _Piece.UNKNOWN, _Piece.USER_DEFINED):
            ids[roles[text]] = index
        if kind in (_Piece.CONTROL, _Piece.UNKNOWN) or (kind == _Piece.USER_DEFINED and _GEMMA_SPECIAL.fullmatch(text)):
            token_type, score = TokenType.CONTROL, ADDED_TOKEN_SCORE
        elif kind == _Piece.USER_DEFINED:
            token_type, score, text = TokenType.USER_DEFINED, ADDED_TOKEN_SCORE, text.replace("\u2581", " ")
        elif kind == _Piece.BYTE:
            token_type = TokenType.BYTE
        elif kind == _Piece.UNUSED:
            token_type = TokenType.UNUSED
        else:
            token_type = TokenType.NORMAL
        tokens.append(text)
        scores[index] = score
        types[index] = int(token_type)
    tokens += [f"[PAD{i}]" for i in range(len(tokens), rows)]
    missing = [role for role, index in ids.items() if index < 0]
    if missing:
        raise GGUFExportError(f"the tokenizer has no {', '.join(missing)} token; Gemma's vocabulary has all four")
    return Vocabulary(tokens, scores, types, ids)


def add_vocabulary(writer: GGUFWriter, vocab: Vocabulary, arch: str) -> None:
    """tokenizer.ggml.* and tokenizer.chat_template (SentencePiece "llama" model, Gemma's settings)."""
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocab.tokens)
    writer.add_key_value("tokenizer.ggml.scores", vocab.scores.tolist(), GGUFValueType.ARRAY, GGUFValueType.FLOAT32)
    writer.add_key_value(
        "tokenizer.ggml.token_type", vocab.token_types.tolist(), GGUFValueType.ARRAY, GGUFValueType.INT32
    )
    writer.add_bos_token_id(vocab.ids["bos"])
    writer.add_eos_token_id(vocab.ids["eos"])
    writer.add_unk_token_id(vocab.ids["unknown"])
    writer.add_pad_token_id(vocab.ids["padding"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    if arch == "gemma" and "<end_of_turn>" in vocab.tokens:  # GemmaModel.set_vocab marks <end_of_turn> (107) EOT
        writer.add_eot_token_id(vocab.tokens.index("<end_of_turn>"))
    writer.add_chat_template(CHAT_TEMPLATE)
