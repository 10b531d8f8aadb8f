"""Train a tiny Gemma-layout SentencePiece vocabulary on the fly (tests, demos).

Ids follow Gemma's layout (pad 0, eos 1, bos 2, unk 3) and the chat-turn
markers are single tokens, so everything downstream treats it like the real
262k vocabulary.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import sentencepiece as spm

from gemma_jax.models.tokenizer import END_OF_TURN, START_OF_TURN

TURN_MARKERS = (START_OF_TURN, END_OF_TURN)


def train_tiny_vocab(texts: Iterable[str], vocab_size: int = 256, extra_symbols: Iterable[str] = ()) -> bytes:
    """Return a serialized SentencePiece ModelProto trained on `texts` (`extra_symbols` are more
    user-defined pieces, e.g. Gemma's other markers, after <start_of_turn> and <end_of_turn>)."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        model_type="bpe",
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=[START_OF_TURN, END_OF_TURN, *(s for s in extra_symbols if s not in TURN_MARKERS)],
        byte_fallback=True,
        character_coverage=1.0,
        add_dummy_prefix=False,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        minloglevel=2,
        num_threads=1,
    )
    return model.getvalue()
