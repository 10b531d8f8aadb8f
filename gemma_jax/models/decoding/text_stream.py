"""Text pieces from a growing list of token ids, for streaming.

Decoding token by token is wrong for SentencePiece: a character can span several
byte-fallback tokens (<0xE6><0x97><0xA5> is one CJK character) and word-initial
spaces depend on what follows. So the whole id list is decoded each time and only
the new suffix is handed out; a trailing incomplete character (U+FFFD) or trailing
whitespace is held back until more tokens arrive or the stream ends. Joined, the
pieces equal `decode(all ids).strip()`, what non-streamed generation returns; with
`strip=False` (a raw continuation: prompt + text is the model's text) `decode(all ids)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

REPLACEMENT = "\ufffd"  # what an incomplete UTF-8 sequence decodes to


class TextDeltas:
    def __init__(self, decode: Callable[[list[int]], str], *, strip: bool = True):
        self._decode = decode
        self._strip = strip
        self._ids: list[int] = []
        self._shown = ""

    def add(self, ids: Iterable[int], *, final: bool = False) -> str:
        """The text that `ids` add to what was handed out so far ("" while it is held back)."""
        self._ids.extend(ids)
        text = self._decode(self._ids)
        if self._strip:
            text = text.strip()
        if not final:
            text = text.rstrip(REPLACEMENT)
        if not text.startswith(self._shown) or len(text) <= len(self._shown):
            return ""
        piece, self._shown = text[len(self._shown) :], text
        return piece
