"""`gemma-jax evaluate RUN_DIR [--step N] [--split validation|test] [--metrics bleu,chrf,...]
[--custom-metrics mod:fn,...] [--max-examples N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--max-new-tokens N]
[--batch-size B] [--choices FILE] [--sweep] [--json]`, and `gemma-jax evaluate --compare RUN_A RUN_B ...`.

Prints progress lines (`GJ-PROGRESS {json}`, see gemma_jax.jobs.progress; the dashboard shows
them), then a summary and where the report and the predictions are (with --json the last line is one
JSON object: step, split, examples, tuned, base, delta, report, predictions); exit code 2 with the
reason when the run cannot be evaluated. Ctrl-C keeps what is done and exits 130.
"""

from __future__ import annotations

import argparse
import json
import sys

from gemma_jax.command_line import run_module
from gemma_jax.jobs.progress import report_progress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", help="the run directory")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--metrics", default="", help="comma-separated, e.g. rougeL,chrf (default: by the data)")
    parser.add_argument(
        "--custom-metrics", default="", help="comma-separated module:function names (default: the run's config)"
    )
    parser.add_argument("--max-examples", type=int, default=None, help="score at most N examples (default: all)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy")
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the longest reference + 16")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts answered together (default 16)")
    parser.add_argument("--choices", default=None, help="a multiple-choice file (question, choices, answer)")
    parser.add_argument("--sweep", action="store_true", help="also answer a sample at several temperatures")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    parser.add_argument("--compare", nargs="+", metavar="RUN", help="a table of every report of these runs")


def _compare(args) -> int:
    from gemma_jax.evaluate.compare import comparison_rows, comparison_table

    rows = comparison_rows(args.compare)
    if not rows:
        raise ValueError("none of these runs has an evaluation report yet; run `gemma-jax evaluate RUN_DIR` first")
    print(comparison_table(rows), flush=True)
    if args.json:
        print(json.dumps({"rows": rows}), flush=True)
    return 0


def run(args) -> int:
    """Evaluate and write RUN_DIR/eval/step-<N>-<split>/; user errors propagate as their message."""
    if args.compare:
        return _compare(args)
    if not args.run_dir:
        raise ValueError("name the run directory to evaluate, or use --compare RUN_A RUN_B")
    from gemma_jax.evaluate.settings import EvalSettings

    settings = EvalSettings(
        split=args.split,
        max_examples=args.max_examples,
        metrics=tuple(m for m in args.metrics.split(",") if m.strip()),
        custom_metrics=tuple(m.strip() for m in args.custom_metrics.split(",") if m.strip()),
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        choices_path=args.choices,
        sweep=args.sweep,
    )
    report_progress("loading JAX and Keras")
    import gemma_jax  # noqa: F401  (selects the JAX backend for Keras)
    from gemma_jax.evaluate.run_checkpoint import load_run_checkpoint
    from gemma_jax.evaluate.writing import evaluate_and_write

    checkpoint = load_run_checkpoint(args.run_dir, args.step, report_progress)
    report, where = evaluate_and_write(checkpoint, args.run_dir, settings, report_progress)
    summary = {
        "step": report["step"],
        "split": report["split"],
        "examples": report["examples"],
        "partial": report["partial"],
        "tuned": report["tuned"],
        "base": report["base"],
        "delta": report["delta"],
        "report": str(where["report"]),
        "predictions": str(where["predictions"]),
    }
    for line in _summary_lines(report):
        print(line, flush=True)
    print(f"wrote {where['report']} and {where['predictions']}", flush=True)
    _copy_to_remote(args.run_dir)
    if args.json:
        print(json.dumps(summary), flush=True)
    return 130 if report["partial"] else 0


def _summary_lines(report: dict) -> list[str]:
    lines = [
        f"step {report['step']}, {report['split']}: {report['examples']} examples"
        + (" (interrupted)" if report["partial"] else "")
    ]
    for name, tuned in report["tuned"].items():
        base, delta, interval = report["base"].get(name), report["delta"].get(name), report["interval"].get(name)
        text = f"  {name:<14} tuned {tuned:.4g}"
        if base is not None:
            text += f"   base {base:.4g}   delta {delta:+.4g}"
        if interval:
            text += f"   95% interval [{interval[0]:+.4g}, {interval[1]:+.4g}]"
        lines.append(text)
    for spec, error in report.get("custom_errors", {}).items():
        lines.append(f"  custom metric {spec}: {error}")
    return lines


def _copy_to_remote(run_dir: str) -> None:
    """With gs:// checkpoints, the reports join the run's copy there (runs/remote_copy.py)."""
    from gemma_jax.cloud_storage import CloudStorageError
    from gemma_jax.runs.remote_copy import copy_run_files, remote_copy_url
    from gemma_jax.runs.run_store import RunStore

    url = remote_copy_url(RunStore.open(run_dir).config().checkpoint.directory)
    if url is not None:
        try:
            copy_run_files(run_dir, url)
            print(f"copied the reports to {url}", flush=True)
        except CloudStorageError as error:
            print(f"warning: the reports stay local only: {error}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    return run_module("evaluate", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
