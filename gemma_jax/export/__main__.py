"""`python -m gemma_jax.export RUN_DIR [--step N] [--kind adapter|merged|all]`.

Prints progress lines (`GJ-PROGRESS {json}`, see gemma_jax.jobs.progress; the dashboard shows
them), then each export folder written; exit code 2 with the reason
when the run cannot be exported (no checkpoint, unknown step, no adapter, ...).
"""

from __future__ import annotations

import argparse
import sys

from gemma_jax.command_line import add_checkpoint_arguments, run_module
from gemma_jax.jobs.progress import report_progress

KIND_CHOICES = ("adapter", "merged", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument(
        "--kind",
        choices=KIND_CHOICES,
        default="all",
        help="adapter: the LoRA adapter (small); merged: the whole model as a Keras-Hub preset in bf16; "
        "all (default): every kind the run has. Each kind has its own folder and zip, so exporting one "
        "never replaces the other",
    )
    parser.add_argument("--no-merged", action="store_true", help="the adapter only (same as --kind adapter)")


def kinds_of(args) -> list[str] | None:
    if args.no_merged:
        return ["adapter"]
    return None if args.kind == "all" else [args.kind]


def run(args) -> int:
    """Export and print the folders; user errors propagate as their message."""
    kinds = kinds_of(args)
    report_progress("loading JAX and Keras")
    import gemma_jax  # noqa: F401  (selects the JAX backend for Keras)
    from gemma_jax.export.exporter import export_run

    for folder in export_run(args.run_dir, args.step, kinds=kinds, progress=report_progress):
        print(f"wrote {folder}", flush=True)
    return 0


def main(argv=None) -> int:
    return run_module("export", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
