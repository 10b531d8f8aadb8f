"""`python -m gemma_jax.export RUN_DIR [--step N] [--no-merged]`.

Prints progress lines, then the export folder; exit code 2 with the reason when
the run cannot be exported (no checkpoint, unknown step, ...).
"""

from __future__ import annotations

import argparse
import sys

from gemma_jax.command_line import add_checkpoint_arguments, print_progress, run_module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--no-merged", action="store_true", help="skip the merged Keras preset (adapter only)")


def run(args) -> int:
    """Export and print the folder; user errors propagate as their message."""
    import gemma_jax  # noqa: F401  (selects the JAX backend for Keras)
    from gemma_jax.export.exporter import export_run

    folder = export_run(args.run_dir, args.step, merged=not args.no_merged, progress=print_progress)
    print(f"wrote {folder}", flush=True)
    return 0


def main(argv=None) -> int:
    return run_module("export", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
