"""How long to wait for a model hub or Cloud Storage to answer before saying "offline".

A leaf module (no gemma_jax import): model sources and the Cloud Storage client share it.
"""

from __future__ import annotations

import os

DEFAULT_TIMEOUT_S = 5.0


def hub_timeout_s() -> float:
    """Seconds to wait for a hub to answer: $GEMMA_JAX_HUB_TIMEOUT, default 5."""
    try:
        return max(0.1, float(os.environ.get("GEMMA_JAX_HUB_TIMEOUT", DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S
