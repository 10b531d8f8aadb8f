"""`python -m gemma_jax.export RUN_DIR [--step N] [--no-merged]`.

Prints progress lines, then the export folder; exit code 2 with the reason when
the run cannot be exported (no checkpoint, unknown step, ...).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="the run directory")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
    parser.add_argument("--no-merged", action="store_true", help="skip the merged Keras preset (adapter only)")


def run(args) -> int:
    """Export and print the folder; user errors propagate as their message."""
    import gemma_jax  # noqa: F401  (selects the JAX backend for Keras)
    from gemma_jax.export.exporter import export_run

    def progress(message: str) -> None:
        print(message, flush=True)

    folder = export_run(args.run_dir, args.step, merged=not args.no_merged, progress=progress)
    print(f"wrote {folder}", flush=True)
    return 0


def main(argv=None) -> int:
    from gemma_jax.config import ConfigError

    parser = argparse.ArgumentParser(prog="python -m gemma_jax.export", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ConfigError, ValueError, OSError) as error:
        print(f"export: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
