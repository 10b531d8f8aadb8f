"""`python -m gemma_jax.export RUN_DIR [--step N] [--formats hf,peft,gguf-f16,...] [--out DIR] [--json]`.

Prints progress lines (`GJ-PROGRESS {json}`, see gemma_jax.jobs.progress; the dashboard shows
them), then each export folder written; with --json the last stdout line is one JSON object
{"step", "formats": {name: {"path", "bytes", "seconds"}}, "model_card"}. Exit code 2 with the reason
when the run cannot be exported (no checkpoint, unknown step, no adapter, an unknown format, ...).
"""

from __future__ import annotations

import argparse
import json
import sys

from gemma_jax.command_line import add_checkpoint_arguments, run_module
from gemma_jax.export.formats import FORMATS, NOT_OFFERED
from gemma_jax.jobs.progress import report_progress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    described = "; ".join(f"{name}: {f.label} ({f.runtime})" for name, f in FORMATS.items())
    parser.add_argument(
        "--formats",
        default=None,
        metavar="LIST",
        help=f"comma-separated formats, or all (default: adapter,keras; a full fine-tune: keras). {described}. "
        f"Not offered: {', '.join(NOT_OFFERED)}. Each format has its own folder and zip, so exporting one never "
        "replaces another",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="where the step-N-FORMAT folders go: a local folder (default RUN_DIR/export, where the dashboard "
        "lists them) or gs://bucket/prefix (written in RUN_DIR/export, then uploaded)",
    )
    parser.add_argument(
        "--push-to-hub",
        default=None,
        metavar="REPO",
        help="also upload the export (one format) to this Hugging Face model repo (created private if missing); "
        "the token comes from HF_TOKEN or `hf auth login`",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line of what was written")


def run(args) -> int:
    """Export and print the folders; user errors propagate as their message."""
    from gemma_jax.export.formats import parse_formats

    if args.formats is not None:
        parse_formats(args.formats, lora=True)  # an unknown name fails before JAX loads
    report_progress("loading JAX and Keras")
    import gemma_jax  # noqa: F401  (selects the JAX backend for Keras)
    from gemma_jax.export.exporter import export_run

    result = export_run(
        args.run_dir,
        args.step,
        formats=args.formats,
        out=args.out,
        push_to_hub=args.push_to_hub,
        progress=report_progress,
    )
    for name, entry in result.formats.items():
        where = entry.get("uploaded") or entry.get("pushed") or entry["path"]
        print(f"wrote {name}: {where}", flush=True)
    if args.json:
        print(json.dumps(result.to_json()), flush=True)
    return 0


def main(argv=None) -> int:
    return run_module("export", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
