"""The Hugging Face tokenizer files of a Gemma SentencePiece vocabulary, with the run's chat template.

`tokenizer.model` is the proto itself (what Gemma's own checkpoints ship), so
`AutoTokenizer.from_pretrained` rebuilds the exact vocabulary, tiny or full.
`tokenizer.json` is what transformers converts it to, written when transformers
is installed, so loaders that do not convert (vLLM, TGI, tokenizers alone)
read it directly. `tokenizer_config.json` carries the added tokens and the
chat template, which renders conversations the way training did
(export/chat_jinja.py).

SentencePiece matches every user-defined and control piece whole before it
splits the rest (<table>, <unused3>, a run of spaces), and tokenizer.json lists
them all as added tokens; transformers takes its added tokens from
tokenizer_config.json's `added_tokens_decoder`, so that lists every one of them
too, as Google's Gemma files do, or `AutoTokenizer` splits <table> into pieces
training never saw. "special" is GemmaTextTokenizer.special_ids (control pieces
and Gemma's markers); ordinary user-defined pieces are text. Written in text,
control pieces (<bos>, <eos>, <pad>, <unk>) are still matched whole by
transformers, where SentencePiece spells them out; Google's files do the same.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from sentencepiece import sentencepiece_model_pb2 as sp_pb2

from gemma_jax.export.chat_jinja import CHAT_TEMPLATE
from gemma_jax.models.tokenizer import GemmaTextTokenizer

TOKENIZER_MODEL = "tokenizer.model"
TOKENIZER_JSON = "tokenizer.json"
ROLE_TOKENS = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
_Piece = sp_pb2.ModelProto.SentencePiece
_ADDED_TYPES = (_Piece.CONTROL, _Piece.USER_DEFINED, _Piece.UNKNOWN)


def _present(tokenizer: GemmaTextTokenizer, piece: str) -> int | None:
    """The id of `piece`, or None where the vocabulary lacks it (SentencePiece maps it to <unk>)."""
    token_id = tokenizer._sp.piece_to_id(piece)
    return token_id if tokenizer.id_to_piece(token_id) == piece else None


def _added_token(piece: str) -> dict:
    """An added token matched whole. Pieces with "▁" (runs of spaces) match the normalized text, where
    transformers, like SentencePiece, has written spaces as "▁"; the rest match the text as written."""
    return {"content": piece, "lstrip": False, "normalized": "▁" in piece, "rstrip": False, "single_word": False}


def added_tokens(tokenizer: GemmaTextTokenizer) -> dict[int, dict]:
    """Every piece SentencePiece matches whole (control, unknown, user-defined), by id, as transformers'
    added tokens: never stripped, so each matches exactly the text SentencePiece matches."""
    special = tokenizer.special_ids
    pieces = sp_pb2.ModelProto.FromString(tokenizer.proto).pieces
    return {
        index: {**_added_token(piece.piece), "special": index in special}
        for index, piece in enumerate(pieces)
        if piece.type in _ADDED_TYPES
    }


def tokenizer_config(tokenizer: GemmaTextTokenizer, context_length: int) -> dict:
    """tokenizer_config.json: Keras-Hub's Gemma fields (export/gemma3.py) for this vocabulary, plus the template."""
    return {
        "tokenizer_class": "GemmaTokenizer",
        **{role: piece for role, piece in ROLE_TOKENS.items() if _present(tokenizer, piece) is not None},
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "spaces_between_special_tokens": False,
        "model_max_length": context_length,
        "padding_side": "left",  # generation pads on the left
        "added_tokens_decoder": {str(token_id): token for token_id, token in added_tokens(tokenizer).items()},
        "chat_template": CHAT_TEMPLATE,
    }


def special_tokens_map(tokenizer: GemmaTextTokenizer) -> dict:
    """special_tokens_map.json (older transformers versions read it; newer ones take tokenizer_config.json)."""
    tokens = {
        role: _added_token(piece) for role, piece in ROLE_TOKENS.items() if _present(tokenizer, piece) is not None
    }
    extra = [piece for piece in ("<start_of_turn>", "<end_of_turn>") if _present(tokenizer, piece) is not None]
    if extra:
        tokens["additional_special_tokens"] = extra
    return tokens


def _converted_tokenizer_json(folder: Path, tokenizer: GemmaTextTokenizer) -> str | None:
    """What transformers converts `folder`'s tokenizer.model to (tokenizer.json), its added tokens' "special"
    and "normalized" flags set as tokenizer_config.json's, or None without transformers."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    converted = AutoTokenizer.from_pretrained(str(folder))
    with tempfile.TemporaryDirectory() as scratch:
        converted.save_pretrained(scratch)
        path = Path(scratch) / TOKENIZER_JSON
        if not path.is_file():
            return None
        converted_json = json.loads(path.read_text(encoding="utf-8"))
    ours = added_tokens(tokenizer)
    for token in converted_json.get("added_tokens", []):
        if token.get("id") in ours:
            token.update(special=ours[token["id"]]["special"], normalized=ours[token["id"]]["normalized"])
    return json.dumps(converted_json, ensure_ascii=False, indent=2) + "\n"


def write_hf_tokenizer(tokenizer: GemmaTextTokenizer, folder: Path, context_length: int) -> list[str]:
    """tokenizer.model, tokenizer_config.json, special_tokens_map.json and (with transformers) tokenizer.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TOKENIZER_MODEL).write_bytes(tokenizer.proto)
    config = tokenizer_config(tokenizer, context_length)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(
        json.dumps(special_tokens_map(tokenizer), indent=2) + "\n", encoding="utf-8"
    )
    written = [TOKENIZER_MODEL, "tokenizer_config.json", "special_tokens_map.json"]
    converted = _converted_tokenizer_json(folder, tokenizer)
    if converted is not None:
        (folder / TOKENIZER_JSON).write_text(converted, encoding="utf-8")
        written.append(TOKENIZER_JSON)
    return written
