"""Read a user's data (any supported file or dataset, or the packaged example) into Examples.

`stream_items` is the streaming core (bounded memory); `read_examples` and
`read_preference_pairs` collect it and raise one DataError listing what to fix.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.errors import DataError, raise_problems
from gemma_jax.data.example import Example
from gemma_jax.data.formats import resolve_format
from gemma_jax.data.preference_pair import PreferencePair, pair_examples
from gemma_jax.data.reader_registry import open_records
from gemma_jax.data.record_source import RecordSource
from gemma_jax.data.records import Item, RecordConverter
from gemma_jax.data.report import Location, Problem
from gemma_jax.data.shapes import Mapping, detect_shape

EXAMPLE_DATASET = "example"
EXAMPLE_DATA_DIR = Path(__file__).resolve().parent / "example_data"
EXAMPLE_TRAIN_FILE = EXAMPLE_DATA_DIR / "pirate_qa.jsonl"
EXAMPLE_HELDOUT_FILE = EXAMPLE_DATA_DIR / "pirate_qa_heldout.jsonl"
FORMATS = ("auto", "jsonl", "csv", "tsv")  # the line formats detect_format() answers for
PEEK_RECORDS = 200  # records read ahead to learn the columns of header-less formats (JSONL)

T = TypeVar("T")


@dataclass(frozen=True)
class Converted:
    """One record as read and what it became (None when it has errors)."""

    location: Location
    record: dict
    item: Item | None


def resolve_path(path: str) -> Path:
    """Map the special name "example" to the packaged dataset; other paths are used as given."""
    return EXAMPLE_TRAIN_FILE if path == EXAMPLE_DATASET else Path(path).expanduser()


def detect_format(path: str, fmt: str = "auto") -> tuple[str, str]:
    """(parser, CSV delimiter) for the line formats: "jsonl" (also .json) or "csv"; .tsv uses a tab.

    Other formats (text, xlsx, xls, parquet) are resolved by formats.resolve_format.
    """
    resolved = resolve_format(path, fmt)
    if resolved in ("jsonl", "json"):
        return "jsonl", ","
    if resolved == "tsv" or (resolved == "csv" and Path(path).suffix.lower() == ".tsv"):
        return "csv", "\t"
    if resolved == "csv":
        return "csv", ","
    raise DataError(f"{path} is a {resolved} file, not JSONL or CSV; read it with read_examples().", path=path)


def open_source(path: str, cfg: DataConfig, listed_per_code: int | None = None) -> tuple[RecordSource, Mapping | None]:
    """Open the source and decide its shape (raises DataError when it cannot be opened at all).

    `listed_per_code` caps the problems the source keeps per code (the rest are counted).
    """
    real = resolve_path(path)
    display = str(real) if path == EXAMPLE_DATASET else path
    if path == EXAMPLE_DATASET:
        cfg = _example_cfg(cfg)
    src = open_records(real, display, cfg)
    src.listed_per_code = listed_per_code  # records are read lazily: nothing per line was reported yet
    columns = src.columns
    if columns is None:  # learn the keys from the first records, then put them back
        ahead = list(itertools.islice(src.records, PEEK_RECORDS))
        columns = list(dict.fromkeys(k for _, r in ahead for k in r))
        src.records = itertools.chain(ahead, src.records)
    if len(columns) > limits.LIMITS.max_columns:  # e.g. JSON Lines whose every line has other keys
        what = f"{display} has {len(columns):,} different columns ({limits.names_text(columns, 5)})"
        raise DataError(limits.over_limit("max_columns", what, limits.FEWER_COLUMNS_FIX), path=display)
    return src, detect_shape(columns, cfg, display)


def stream_items(
    path: str, cfg: DataConfig, *, listed_per_code: int | None = None
) -> tuple[RecordSource, Mapping | None, Iterator[Converted]]:
    """Every record with its conversion, lazily; problems collect in the returned source
    (at most `listed_per_code` of each code when given, the rest counted in `src.omitted`)."""
    src, mapping = open_source(path, cfg, listed_per_code)
    converter = RecordConverter(src, mapping, _example_cfg(cfg) if path == EXAMPLE_DATASET else cfg)

    def items() -> Iterator[Converted]:
        for number, record in src.records:
            yield Converted(src.at(number), record, converter.convert(number, record))
        converter.finish()

    return src, mapping, items()


def iter_examples(path: str, cfg: DataConfig, problems: list[Problem]) -> Iterator[Example]:
    """Examples one by one (bounded memory); problems are appended to `problems` as found."""
    src, _, items = stream_items(path, cfg)
    try:
        for item in items:
            if isinstance(item.item, Example):
                yield item.item
            elif item.item is not None:  # a preference pair: SFT on the chosen reply
                yield pair_examples(item.item)[0]
    finally:
        problems.extend(src.problems)


def read_examples(path: str, cfg: DataConfig) -> list[Example]:
    """Read every example in `path`, or raise one DataError listing what to fix (up to 20 problems)."""
    problems: list[Problem] = []
    examples = list(iter_examples(path, cfg, problems))
    display = str(resolve_path(path)) if path == EXAMPLE_DATASET else path
    raise_problems(display, [p.text() for p in problems if p.severity == "error"])
    if not examples:
        raise DataError(f"{display} has no examples: it holds a header or blank lines only. Add rows.", path=display)
    return examples


def read_preference_pairs(path: str, cfg: DataConfig) -> list[PreferencePair]:
    """Read every pair in `path` (any supported format), or raise one DataError listing what to fix.

    Columns: data.prompt_column, data.chosen_column, data.rejected_column (and the optional
    data.system_column); chosen/rejected may also be two whole conversations that differ
    only in the last assistant message.
    """
    if cfg.shape not in ("auto", "preference"):
        raise DataError(f"Preference pairs need data.shape: preference (or auto), not {cfg.shape!r}.", path=path)
    src, _, items = stream_items(path, replace(cfg, shape="preference"))
    pairs = [item.item for item in items if isinstance(item.item, PreferencePair)]
    raise_problems(path, [p.text() for p in src.problems if p.severity == "error"])
    if not pairs:
        raise DataError(
            f"{path} has no preference pairs. Add rows with {cfg.prompt_column!r}, {cfg.chosen_column!r} and "
            f"{cfg.rejected_column!r} columns.",
            path=path,
        )
    return pairs


def example_prompts(count: int | None = None) -> list[str]:
    """Held-out questions of the packaged dataset (never in its training file): good sample prompts."""
    examples = read_examples(str(EXAMPLE_HELDOUT_FILE), DataConfig())
    return [ex.prompt for ex in examples[:count]]


def _example_cfg(cfg: DataConfig) -> DataConfig:
    """The packaged dataset is JSONL with prompt/response columns, whatever the user's column settings."""
    return DataConfig(seed=cfg.seed, sequence_length=cfg.sequence_length, loss_on=cfg.loss_on)


def split_examples(examples: Sequence[T], validation_fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Deterministically hold out round(n * fraction) examples (at least 1 when fraction > 0).

    Both parts keep file order so a split is easy to inspect; the choice depends only
    on (seed, n), never on the content.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise DataError(
            f"data.validation_fraction must be at least 0 and below 1; got {validation_fraction}. "
            "Use e.g. 0.1 to hold out 10% of the examples, or 0 for no validation."
        )
    n = len(examples)
    n_val = round(n * validation_fraction)
    if validation_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng([seed, 0x5EED]).permutation(n)[:n_val]] = True
    train = [ex for ex, c in zip(examples, chosen) if not c]
    validation = [ex for ex, c in zip(examples, chosen) if c]
    return train, validation
