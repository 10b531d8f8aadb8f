"""The token ids whose text is no part of an answer, skipped when the server decodes text.

A model may write a control or marker token mid-answer (`<start_of_turn>`, `<unused12>`, an image
marker); SentencePiece decodes most of them to their literal text, so clients would read
"<start_of_turn>". Hugging Face's pipelines and vLLM skip special tokens when they decode
(`skip_special_tokens=True`); so does the server. Special is: SentencePiece's control and unknown
pieces (<pad>, <eos>, <bos> decode to nothing already; <unk> to " ⁇ ") and every piece that is one of
Gemma's markers as data/tokenize.py names them (SPECIAL_TOKENS and <unusedN>: the turn, mask and image
markers), whatever type the vocabulary gives them (Gemma's own file has them user-defined, so that
they match in text). Other user-defined pieces (runs of newlines or spaces, <table>...) are text.
Skipped tokens still count as completion tokens, as vLLM counts them.
"""

from __future__ import annotations

from sentencepiece import sentencepiece_model_pb2 as sp_pb2

from gemma_jax.data.tokenize import find_special_tokens
from gemma_jax.models.tokenizer import GemmaTextTokenizer

_Piece = sp_pb2.ModelProto.SentencePiece
_NOT_TEXT = (_Piece.CONTROL, _Piece.UNKNOWN)


def is_marker(piece: str) -> bool:
    """Whether `piece` is one whole Gemma marker (data/tokenize.py's definition)."""
    return ("<" in piece or "[" in piece) and (0, piece) in find_special_tokens(piece)


def special_ids(tokenizer: GemmaTextTokenizer) -> frozenset[int]:
    """The ids of `tokenizer`'s vocabulary that decoding to text skips."""
    pieces = sp_pb2.ModelProto.FromString(tokenizer.proto).pieces
    return frozenset(index for index, piece in enumerate(pieces) if piece.type in _NOT_TEXT or is_marker(piece.piece))
