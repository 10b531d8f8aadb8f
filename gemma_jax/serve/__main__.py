"""`python -m gemma_jax.serve`: the generation worker on stdin/stdout (see protocol.py).

The protocol keeps the real stdout; everything else printed to stdout (library
banners, warnings) is sent to stderr so it cannot corrupt a reply line.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    import gemma_jax  # noqa: F401  (selects the JAX backend for Keras)
    from gemma_jax.serve.worker import Worker

    Worker(sys.stdin, replies).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
