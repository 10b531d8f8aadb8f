"""Small GGUF files (from Keras backbones, or from transformers checkpoints the way llama.cpp converts
them) and a Gemma-style vocabulary for the GGUF importer tests."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, TokenType

SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
TURN_MARKERS = ["<start_of_turn>", "<end_of_turn>"]
WORDS = ["hello", "world", "the", "user", "model", "cat", "sat"]
Q8_0 = GGMLQuantizationType.Q8_0


def gemma_like_vocab(size: int | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(tokens, scores, llama token types) laid out like Gemma's, as llama.cpp stores them:
    specials and turn markers CONTROL, newline/space runs USER_DEFINED with plain spaces,
    256 byte tokens, then BPE pieces scored by merge rank. Padded with <unusedN> to `size`."""
    tokens: list[str] = []
    types: list[int] = []
    scores: list[float] = []

    def add(token: str, kind: TokenType, score: float = -1000.0) -> None:
        tokens.append(token)
        types.append(int(kind))
        scores.append(score)

    for token in SPECIAL[:4]:
        add(token, TokenType.CONTROL)
    add(SPECIAL[4], TokenType.CONTROL)
    add("[multimodal]", TokenType.USER_DEFINED)
    for i in range(2):
        add(f"<unused{i}>", TokenType.CONTROL)
    for token in TURN_MARKERS:
        add(token, TokenType.CONTROL)
    add("\n", TokenType.USER_DEFINED)
    add("\n\n", TokenType.USER_DEFINED)
    add("  ", TokenType.USER_DEFINED)  # llama.cpp writes Gemma's "▁▁" with plain spaces
    add("   ", TokenType.USER_DEFINED)
    for byte in range(256):
        add(f"<0x{byte:02X}>", TokenType.BYTE, 0.0)
    # BPE pieces: single characters first, then merges of them, scored by rank.
    pieces = ["\u2581"] + sorted(set("".join(WORDS)))
    merges = []
    for word in WORDS:
        text = "\u2581" + word
        for end in range(2, len(text) + 1):
            merges.append(text[:end])
        for end in range(2, len(word) + 1):
            merges.append(word[:end])
    for piece in dict.fromkeys(merges):
        if piece not in pieces:
            pieces.append(piece)
    for rank, piece in enumerate(pieces):
        add(piece, TokenType.NORMAL, -float(rank))
    if size is not None:
        if size < len(tokens):
            raise ValueError(f"the vocabulary needs at least {len(tokens)} tokens")
        for i in range(2, 2 + size - len(tokens)):
            add(f"<unused{i}>", TokenType.CONTROL)
    return tokens, np.asarray(scores, np.float32), np.asarray(types, np.int32)


def add_vocab(writer: gguf.GGUFWriter, tokens, scores, types) -> None:
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_key_value(
        "tokenizer.ggml.scores", [float(s) for s in scores], GGUFValueType.ARRAY, GGUFValueType.FLOAT32
    )
    writer.add_key_value("tokenizer.ggml.token_type", [int(t) for t in types], GGUFValueType.ARRAY, GGUFValueType.INT32)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_space_prefix(False)


def write_gguf(
    path: Path,
    tensors: dict[str, tuple[np.ndarray, GGMLQuantizationType | None]],
    *,
    arch: str = "gemma3",
    metadata=None,
    alignment: int | None = None,
) -> Path:
    """Write a GGUF file with `gguf.GGUFWriter`. `tensors` maps name -> (array, raw type);
    quantized arrays are the uint8 blocks `gguf.quants.quantize` returns. `metadata` is a
    callable given the writer to add key/values."""
    writer = gguf.GGUFWriter(str(path), arch)
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    if metadata is not None:
        metadata(writer)
    for name, (array, raw_type) in tensors.items():
        writer.add_tensor(name, array, raw_dtype=raw_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def quantized(array: np.ndarray, qtype: GGMLQuantizationType) -> tuple[np.ndarray, GGMLQuantizationType]:
    return gguf.quants.quantize(np.asarray(array, np.float32), qtype), qtype


def keras_gemma_gguf_tensors(
    backbone, *, matrix_type=None, embedding_type=None
) -> dict[str, tuple[np.ndarray, object]]:
    """A Keras GemmaBackbone's or Gemma3Backbone's weights as llama.cpp names and stores them (the GGUF
    exporter's `gguf_tensors`: HF (out, in) layout, RMSNorm weights + 1); `matrix_type` quantizes the
    2-D projections and `embedding_type` (default `matrix_type`) the embedding, as llama.cpp's
    quantized outtypes do (norms stay F32)."""
    from gemma_jax.export.gguf_tensors import gguf_tensors

    embedding_type = embedding_type or matrix_type
    tensors = {}
    for name, array in gguf_tensors(backbone).items():
        qtype = embedding_type if name == "token_embd.weight" else matrix_type if array.ndim == 2 else None
        tensors[name] = quantized(array, qtype) if qtype else (array, None)
    return tensors


def gemma3_gguf_tensors(backbone, *, embedding_type=None) -> dict[str, tuple[np.ndarray, object]]:
    """A Keras Gemma3Backbone as llama.cpp stores it, matrices in F32 (see `keras_gemma_gguf_tensors`)."""
    return keras_gemma_gguf_tensors(backbone, embedding_type=embedding_type)


def _add_shape(writer: gguf.GGUFWriter, backbone, feed_forward_length: int) -> None:
    """The keys llama.cpp writes for every Gemma generation, from a Keras backbone's shape."""
    writer.add_context_length(1024)
    writer.add_embedding_length(backbone.hidden_dim)
    writer.add_block_count(backbone.num_layers)
    writer.add_feed_forward_length(feed_forward_length)
    writer.add_head_count(backbone.num_query_heads)
    writer.add_head_count_kv(backbone.num_key_value_heads)
    writer.add_key_length(backbone.head_dim)
    writer.add_value_length(backbone.head_dim)
    writer.add_layer_norm_rms_eps(backbone.layer_norm_epsilon)


def gemma3_metadata(backbone, tokens, scores, types, *, sliding_window: int):
    def add(writer: gguf.GGUFWriter) -> None:
        writer.add_name("tiny gemma3")
        _add_shape(writer, backbone, backbone.intermediate_dim)
        writer.add_rope_freq_base(1_000_000.0)
        writer.add_sliding_window(sliding_window)
        add_vocab(writer, tokens, scores, types)

    return add


def gemma_metadata(backbone, arch: str, tokens, scores, types):
    """The metadata llama.cpp writes for a Gemma 1 ("gemma") or Gemma 2 ("gemma2") model with a
    Keras GemmaBackbone's shape (HF's intermediate_size is half of Keras-Hub's intermediate_dim)."""

    def add(writer: gguf.GGUFWriter) -> None:
        writer.add_name(f"tiny {arch}")
        _add_shape(writer, backbone, backbone.intermediate_dim // 2)
        if arch == "gemma2":
            writer.add_attn_logit_softcapping(backbone.attention_logit_soft_cap)
            writer.add_final_logit_softcapping(backbone.final_logit_soft_cap)
            writer.add_sliding_window(backbone.sliding_window_size)
        add_vocab(writer, tokens, scores, types)

    return add


# convert_hf_to_gguf.py's GemmaModel.set_vocab marks these CodeGemma ids in every Gemma 1 file.
CODEGEMMA_SPECIAL_IDS = {"prefix": 67, "middle": 68, "suffix": 69, "fsep": 70, "eot": 107}
_LLAMA_CPP_ARCHES = {"gemma": gguf.MODEL_ARCH.GEMMA, "gemma2": gguf.MODEL_ARCH.GEMMA2}


def llama_cpp_gguf_from_hf(hf_dir: Path, path: Path, vocab, *, matrix_type: GGMLQuantizationType | None = None) -> Path:
    """The GGUF llama.cpp's convert_hf_to_gguf.py writes for a Gemma ("gemma") or Gemma 2 ("gemma2")
    checkpoint saved by transformers, done here the way its GemmaModel/Gemma2Model do it:
    set_gguf_parameters' keys from config.json, the SentencePiece vocabulary (with add_space_prefix
    false), and modify_tensors: lm_head skipped, 1 added to every `*norm.weight`, names from gguf's
    tensor map for the architecture (`map_tensor_name`). Everything F32 (outtype f32), or with
    `matrix_type` the 2-D tensors quantized and the 1-D ones F32, as a quantized outtype does."""
    import json

    from safetensors.numpy import load_file

    with open(hf_dir / "config.json", encoding="utf-8") as file:
        hparams = json.load(file)
    arch = hparams["model_type"]
    name_map = gguf.get_tensor_name_map(_LLAMA_CPP_ARCHES[arch], hparams["num_hidden_layers"])
    tensors = {}
    for name, data in load_file(str(hf_dir / "model.safetensors")).items():
        if name == "lm_head.weight":
            continue
        data = np.asarray(data, np.float32)
        if name.endswith("norm.weight"):
            data = data + 1
        new_name = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ValueError(f"llama.cpp has no name for tensor {name!r}")
        tensors[new_name] = quantized(data, matrix_type) if matrix_type and data.ndim == 2 else (data, None)
    tokens, scores, types = vocab

    def metadata(writer: gguf.GGUFWriter) -> None:
        writer.add_context_length(hparams["max_position_embeddings"])
        writer.add_embedding_length(hparams["hidden_size"])
        writer.add_block_count(hparams["num_hidden_layers"])
        writer.add_feed_forward_length(hparams["intermediate_size"])
        writer.add_head_count(hparams["num_attention_heads"])
        writer.add_head_count_kv(hparams.get("num_key_value_heads", hparams["num_attention_heads"]))
        writer.add_layer_norm_rms_eps(hparams["rms_norm_eps"])
        writer.add_key_length(hparams["head_dim"])
        writer.add_value_length(hparams["head_dim"])
        file_type = gguf.LlamaFileType.MOSTLY_Q8_0 if matrix_type == Q8_0 else gguf.LlamaFileType.ALL_F32
        writer.add_file_type(file_type)
        if arch == "gemma2":
            writer.add_attn_logit_softcapping(hparams["attn_logit_softcapping"])
            writer.add_final_logit_softcapping(hparams["final_logit_softcapping"])
            writer.add_sliding_window(hparams["sliding_window"])
        add_vocab(writer, tokens, scores, types)
        if arch == "gemma":
            for kind, token_id in CODEGEMMA_SPECIAL_IDS.items():
                writer.add_uint32(f"tokenizer.ggml.{kind}_token_id", token_id)

    return write_gguf(path, tensors, arch=arch, metadata=metadata)
