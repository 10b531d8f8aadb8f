"""Pieces of the command lines shared by `gemma-jax`, `gemma-jax ui` and `python -m gemma_jax.evaluate|export`.

argparse only: nothing heavy is imported here.
"""

from __future__ import annotations

import argparse
import sys


def positive_int(text: str) -> int:
    """An argparse `type`: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """RUN_DIR [--step N]: one checkpoint of a run."""
    parser.add_argument("run_dir", help="the run directory")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")


def print_progress(message: str) -> None:
    print(message, flush=True)


def run_module(name: str, doc: str, add_arguments, run, argv=None) -> int:
    """`python -m gemma_jax.<name>`: parse `argv`, then `run(args)`; a user error prints `<name>: <reason>`
    on stderr (the dashboard shows that line) and returns 2."""
    from gemma_jax.config import ConfigError

    parser = argparse.ArgumentParser(prog=f"python -m gemma_jax.{name}", description=doc.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ConfigError, ValueError, OSError) as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
