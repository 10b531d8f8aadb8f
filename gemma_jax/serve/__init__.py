"""A generation worker process and its client: the dashboard's Playground talks to models through it.

`GenerationClient` (no JAX import) spawns `python -m gemma_jax.serve`, which holds
loaded models by name and streams their answers as JSON lines (see protocol.py).
"""

from gemma_jax.serve.client import GenerationClient, GenerationError

__all__ = ["GenerationClient", "GenerationError"]
