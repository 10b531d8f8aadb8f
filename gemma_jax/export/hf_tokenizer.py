"""The Hugging Face tokenizer files of a Gemma SentencePiece vocabulary, with the run's chat template.

`tokenizer.model` is the proto itself (what Gemma's own checkpoints ship), so
`AutoTokenizer.from_pretrained` rebuilds the exact vocabulary, tiny or full.
`tokenizer.json` is what transformers converts it to, written when transformers
is installed, so loaders that do not convert (vLLM, TGI, tokenizers alone)
read it directly. `tokenizer_config.json` carries the special tokens and the
chat template, which renders conversations the way training did
(export/chat_jinja.py).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from gemma_jax.export.chat_jinja import CHAT_TEMPLATE
from gemma_jax.models.tokenizer import GemmaTextTokenizer

TOKENIZER_MODEL = "tokenizer.model"
TOKENIZER_JSON = "tokenizer.json"
# Pieces that become HF special (never split, skipped by decode(skip_special_tokens=True)) when the vocabulary has them.
SPECIAL_PIECES = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>")
ROLE_TOKENS = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}


def _present(tokenizer: GemmaTextTokenizer, piece: str) -> int | None:
    """The id of `piece`, or None where the vocabulary lacks it (SentencePiece maps it to <unk>)."""
    token_id = tokenizer._sp.piece_to_id(piece)
    return token_id if tokenizer.id_to_piece(token_id) == piece else None


def _added_token(piece: str) -> dict:
    return {"content": piece, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}


def tokenizer_config(tokenizer: GemmaTextTokenizer, context_length: int) -> dict:
    """tokenizer_config.json: Keras-Hub's Gemma fields (export/gemma3.py) for this vocabulary, plus the template."""
    specials = {piece: _present(tokenizer, piece) for piece in SPECIAL_PIECES}
    return {
        "tokenizer_class": "GemmaTokenizer",
        **{role: piece for role, piece in ROLE_TOKENS.items() if specials[piece] is not None},
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "spaces_between_special_tokens": False,
        "model_max_length": context_length,
        "padding_side": "left",  # generation pads on the left
        "added_tokens_decoder": {
            str(token_id): {**_added_token(piece), "special": True}
            for piece, token_id in sorted(specials.items(), key=lambda item: item[1] or 0)
            if token_id is not None
        },
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


def _converted_tokenizer_json(folder: Path) -> str | None:
    """What transformers converts `folder`'s tokenizer.model to (tokenizer.json), or None without transformers."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    converted = AutoTokenizer.from_pretrained(str(folder))
    with tempfile.TemporaryDirectory() as scratch:
        converted.save_pretrained(scratch)
        path = Path(scratch) / TOKENIZER_JSON
        return path.read_text(encoding="utf-8") if path.is_file() else None


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
    converted = _converted_tokenizer_json(folder)
    if converted is not None:
        (folder / TOKENIZER_JSON).write_text(converted, encoding="utf-8")
        written.append(TOKENIZER_JSON)
    return written
