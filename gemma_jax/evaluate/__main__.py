"""`python -m gemma_jax.evaluate RUN_DIR [--step N] [--split validation|test] [--max-examples N]`.

Prints progress lines, then the report's path; exit code 2 with the reason when
the run cannot be evaluated (no checkpoint, no such split, ...).
"""

from __future__ import annotations

import argparse
import json
import sys

from gemma_jax.command_line import add_checkpoint_arguments, print_progress, run_module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--max-examples", type=int, default=8, help="prompts answered by both models (default 8)")


def run(args) -> int:
    """Evaluate and write RUN_DIR/eval/step-<N>-<split>.json; user errors propagate as their message."""
    import gemma_jax  # noqa: F401  (selects the JAX backend for Keras)
    from gemma_jax.evaluate.evaluation import evaluate_run
    from gemma_jax.evaluate.reports import report_path
    from gemma_jax.evaluate.run_checkpoint import load_run_checkpoint
    from gemma_jax.runs.files import atomic_write_json

    if args.max_examples < 0:
        raise ValueError(f"--max-examples must be 0 or more, got {args.max_examples}")

    print_progress(f"loading {args.run_dir}" + (f" at step {args.step}" if args.step is not None else ""))
    checkpoint = load_run_checkpoint(args.run_dir, args.step)
    report = evaluate_run(checkpoint, args.split, args.max_examples, print_progress)
    path = report_path(args.run_dir, checkpoint.step, args.split)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, report)
    summary = {k: report[k] for k in ("step", "split", "eval_loss", "perplexity", "base_eval_loss", "base_perplexity")}
    print(json.dumps(summary), flush=True)
    print(f"wrote {path}", flush=True)
    return 0


def main(argv=None) -> int:
    return run_module("evaluate", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
