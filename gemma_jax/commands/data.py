"""`gemma-jax data check|push|versions`: check a data file before training, and dataset versions on gs://.

argparse only at import: the readers load when a command runs.
"""

from __future__ import annotations

import os
import sys

from gemma_jax.command_line import positive_int
from gemma_jax.config import JobConfig, load_config

_DATA_FLAGS = (
    "format",
    "prompt_column",
    "response_column",
    "system_column",
    "messages_column",
    "text_column",
    "label_column",
    "chosen_column",
    "rejected_column",
    "shape",
    "source",
    "split",
    "subset",
    "data_dir",
    "delimiter",
    "quote_char",
    "encoding",
    "sheet",
    "text_mode",
    "text_regex",
)


def _versions_cli():
    from gemma_jax.data import versions_cli

    return versions_cli


def _check_data_settings(job: JobConfig) -> None:
    """The data settings as `gemma-jax train` validates them (config.validate), before any file is
    opened: a bad --delimiter is the config's message and exit code 2, not a reader's TypeError.
    Only data.* problems count (the rest of a --config is not this command's business), and not
    data.train_path: the file checked is the command's argument."""
    from gemma_jax.config import ConfigError, validate

    problems = [p for p in validate(job) if p.startswith("data.") and not p.startswith("data.train_path")]
    if problems:
        raise ConfigError(problems, source=None if len(problems) == 1 else "the data settings")


def _data_check(args) -> int:
    """Print the validation report of one data source; exit 1 when it has errors."""
    import dataclasses
    from pathlib import Path

    from gemma_jax.data import limits
    from gemma_jax.data.checks import build_report

    job = load_config(args.config) if args.config else JobConfig()
    cfg = job.data
    changes = {name: getattr(args, name) for name in _DATA_FLAGS if getattr(args, name) is not None}
    if changes.get("delimiter") in ("\\t", "tab"):
        changes["delimiter"] = "\t"
    if args.no_header:
        changes["header"] = False
    if args.infer_columns:
        changes["infer_columns"] = True
    if args.sequence_length is not None:
        changes["sequence_length"] = args.sequence_length
    cfg = dataclasses.replace(cfg, **changes)
    _check_data_settings(dataclasses.replace(job, data=cfg))
    tokenizer = None
    if args.tokenizer:
        from gemma_jax.models.tokenizer import GemmaTextTokenizer

        tokenizer = GemmaTextTokenizer(Path(args.tokenizer).read_bytes())
    # The readers cap what one file may make them hold; the address-space cap is the backstop for
    # anything a library still expands. Arrow's default allocator reserves 1 GiB up front: use malloc.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    budget = limits.default_memory_budget()
    try:
        with limits.memory_limit(budget):
            report = build_report(args.file, cfg, tokenizer=tokenizer, keep_examples=False)  # bounded memory
    except MemoryError:
        print(
            f"gemma-jax data check: checking {args.file} needed more than {limits.size_text(budget)} of memory "
            "and was stopped. The file is probably broken or a decompression bomb; export the data again "
            "(e.g. as JSONL) or split it into smaller files.",
            file=sys.stderr,
        )
        return 2
    print(report.to_json() if args.json else report.to_text(max_problems=args.max_problems))
    return 0 if report.ok else 1


def add_parser(commands) -> None:
    """Add `data` and its subcommands to the `gemma-jax` subparsers."""
    data = commands.add_parser("data", help="check a data file before training")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    check = data_commands.add_parser("check", help="print the validation report of a data file or dataset")
    check.add_argument("file", help="a data file, a save_to_disk folder, hf:NAME or tfds:NAME")
    check.add_argument("--config", help="take the data settings from this job config (flags override them)")
    for name in _DATA_FLAGS:
        check.add_argument("--" + name.replace("_", "-"), dest=name, default=None, help=f"data.{name}")
    check.add_argument("--no-header", action="store_true", help="CSV/Excel: the first row is data, not names")
    check.add_argument("--infer-columns", action="store_true", help="map look-alike columns (question -> prompt)")
    check.add_argument("--sequence-length", type=positive_int, default=None, help="tokens per training row")
    check.add_argument("--tokenizer", help="a SentencePiece .model file for exact token counts (default: estimate)")
    check.add_argument("--max-problems", type=positive_int, default=50, help="problems listed (default 50)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(handler=_data_check)

    pushing = data_commands.add_parser("push", help="upload a data file to gs:// as an immutable dataset version")
    pushing.add_argument("file", help="the data file to upload")
    pushing.add_argument("--to", required=True, metavar="gs://BUCKET/PREFIX", help="where the datasets live")
    pushing.add_argument("--name", help="the dataset's name (default: the file name without extension)")
    pushing.add_argument("--json", action="store_true", help="print the version as JSON")
    pushing.set_defaults(handler=lambda args: _versions_cli().push_command(args))
    listing = data_commands.add_parser("versions", help="list the versions of a dataset on gs://")
    listing.add_argument("root", metavar="gs://BUCKET/PREFIX", help="where the datasets live")
    listing.add_argument("name", help="the dataset's name")
    listing.add_argument("--json", action="store_true", help="print the versions as JSON lines")
    listing.set_defaults(handler=lambda args: _versions_cli().versions_command(args))
