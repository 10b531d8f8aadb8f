"""Stop strings over streamed text: the answer ends just before the first one.

Text arrives in pieces, and a stop string may straddle two of them, so the tail that could still
become a stop string is held back until the next piece decides it (or the answer ends).
"""

from __future__ import annotations


class StopStrings:
    def __init__(self, stops: tuple[str, ...]):
        self._stops = stops
        self._text = ""  # everything received
        self._shown = 0  # characters handed out
        self.stopped = False

    def add(self, piece: str) -> str:
        """The text that may be shown now; after a stop string is found, `stopped` is True and nothing more comes."""
        if self.stopped:
            return ""
        self._text += piece
        if not self._stops:
            return self._take(len(self._text))
        # No stop string starts in the text already shown: that text was not held back.
        hits = [i for i in (self._text.find(s, self._shown) for s in self._stops) if i >= 0]
        if hits:
            self.stopped = True
            return self._take(min(hits))
        return self._take(len(self._text) - self._held())

    def flush(self) -> str:
        """The held-back tail, once no more text will come."""
        return "" if self.stopped else self._take(len(self._text))

    def _held(self) -> int:
        """Length of the longest tail of the text that is the start of some stop string."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(self._text)), longest, -1):
                if self._text.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def _take(self, end: int) -> str:
        end = max(end, self._shown)
        piece, self._shown = self._text[self._shown : end], end
        return piece
