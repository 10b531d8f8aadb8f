"""How long a message to a user may be: one rule for the CLI, the engine, the data checks and the dashboard.

A leaf module (no gemma_jax import), so every layer can cut its messages the same way.
"""

from __future__ import annotations

MAX_MESSAGE_CHARS = 2000  # an error message longer than this is cut (a 1M-column file must not print 10 MB)


def cap_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text`, cut to about `limit` characters with a note of how much was left out."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 40, 0)]}... ({len(text) - limit + 40:,} more characters)"
