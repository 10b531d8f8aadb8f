"""A fast host-side tokenizer over the same SentencePiece proto Keras-Hub uses.

Keras-Hub's tokenizers run through TensorFlow ops, which is slow for the
per-example work the data pipeline does; `sentencepiece` itself is not.
"""

from __future__ import annotations

import re
from functools import cached_property

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as sp_pb2

START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"

# Gemma's control and marker pieces; <unusedN> are reserved slots of the real vocabulary. Written in
# user text they stay text (data/tokenize.py); written by the model they are no part of its answer.
MARKER_TOKENS = (
    "<bos>",
    "<eos>",
    "<pad>",
    "<unk>",
    "<mask>",
    START_OF_TURN,
    END_OF_TURN,
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
    "[@BOS@]",
)
_MARKERS = "|".join(map(re.escape, MARKER_TOKENS)) + r"|<unused\d+>"
MARKER_PATTERN = re.compile(f"(?=({_MARKERS}))")  # a lookahead, so overlapping markers are all found
_WHOLE_MARKER = re.compile(f"(?:{_MARKERS})")
_Piece = sp_pb2.ModelProto.SentencePiece


class GemmaTextTokenizer:
    """Encode/decode text with a Gemma SentencePiece model (ids match Keras-Hub)."""

    def __init__(self, proto: bytes):
        self.proto = bytes(proto)
        self._sp = spm.SentencePieceProcessor(model_proto=self.proto)
        self.vocabulary_size = self._sp.get_piece_size()
        self.pad_id = self._sp.piece_to_id("<pad>")
        self.eos_id = self._sp.piece_to_id("<eos>")
        self.bos_id = self._sp.piece_to_id("<bos>")
        self.start_of_turn_id = self._sp.piece_to_id(START_OF_TURN)
        self.end_of_turn_id = self._sp.piece_to_id(END_OF_TURN)

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def decode(self, ids) -> str:
        """Every id's text, markers included (what the model reads: previews, loss positions)."""
        return self._sp.decode([int(i) for i in ids])

    @cached_property
    def special_ids(self) -> frozenset[int]:
        """Ids whose text is no part of an answer: SentencePiece's control and unknown pieces (<unk>
        decodes to " ⁇ ") and every piece that is one whole Gemma marker, whatever type the vocabulary
        gives it (Gemma's own file has the turn markers user-defined, so that they match in text).
        Other user-defined pieces (runs of spaces, <table>) are text."""
        pieces = sp_pb2.ModelProto.FromString(self.proto).pieces
        return frozenset(
            index
            for index, piece in enumerate(pieces)
            if piece.type in (_Piece.CONTROL, _Piece.UNKNOWN) or _WHOLE_MARKER.fullmatch(piece.piece)
        )

    def decode_text(self, ids) -> str:
        """An answer's text: special ids skipped, as Hugging Face's and vLLM's decoding does by default
        (`skip_special_tokens=True`)."""
        special = self.special_ids
        return self._sp.decode([int(i) for i in ids if int(i) not in special])

    def id_to_piece(self, token_id: int) -> str:
        return self._sp.id_to_piece(int(token_id))
