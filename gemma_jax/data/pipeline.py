"""From a DataConfig to ready-to-train batch iterators plus the numbers a UI shows.

read -> clean -> split (train / validation / test) -> augment train only -> template
-> tokenize -> truncate -> pack -> batch. Augmentation runs after splitting and only on
the train split, so copies of held-out examples can never be trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.augment import AugmentReport, augment_examples
from gemma_jax.data.batches import BatchIterator
from gemma_jax.data.chat_template import render_text
from gemma_jax.data.cleaning import CleaningOptions, CleaningReport, became_empty, clean_examples
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example
from gemma_jax.data.lengths import truncate_examples, truncation_stats
from gemma_jax.data.readers import read_examples
from gemma_jax.data.splitting import Splits, split_dataset, split_preview
from gemma_jax.data.tokenize import TokenizedExample, Tokenizer, tokenize_examples

if TYPE_CHECKING:
    from gemma_jax.models.loaded_model import LoadedModel

MAX_LISTED = 20  # sources listed in stats (the counts are always complete)


@dataclass
class PreparedData:
    """Examples after cleaning, splitting and (train-only) augmentation, with what each step did."""

    splits: Splits
    cleaning: CleaningReport
    augmentation: AugmentReport
    dropped_empty: list[str] = field(default_factory=list)  # sources of examples cleaning left empty
    split_by: str | None = None

    def summary(self) -> dict:
        cleaning = self.cleaning.to_dict()
        cleaning["emptied"] = cleaning["emptied"][:MAX_LISTED]
        return {
            "cleaning": cleaning,
            "dropped_empty": len(self.dropped_empty),
            "dropped_empty_sources": self.dropped_empty[:MAX_LISTED],
            "augmentation": self.augmentation.to_dict(),
            "split": split_preview(self.splits, self.split_by),
        }


@dataclass
class Datasets:
    train: BatchIterator
    validation: BatchIterator | None
    stats: dict
    train_examples: list[Example] = field(default_factory=list)
    validation_examples: list[Example] = field(default_factory=list)
    test: BatchIterator | None = None
    test_examples: list[Example] = field(default_factory=list)

    @property
    def all_texts(self) -> list[str]:
        """Every example rendered with the chat template (train, then validation, then test)."""
        return [render_text(ex) for ex in self.train_examples + self.validation_examples + self.test_examples]

    def texts(self) -> list[str]:
        return self.all_texts

    def make_eval_iterator(self) -> BatchIterator | None:
        """A fresh single pass over the validation split (None when there is no validation data)."""
        return self.validation.fresh() if self.validation is not None else None

    def make_test_iterator(self) -> BatchIterator | None:
        """A fresh single pass over the test split (None when there is no test data)."""
        return self.test.fresh() if self.test is not None else None


def _read_clean(path: str, cfg: DataConfig, report: CleaningReport) -> tuple[list[Example], list[str]]:
    """Read and clean one file; examples whose user or model text cleaning emptied are dropped."""
    raw = read_examples(path, cfg)
    examples, cleaned = clean_examples(raw, CleaningOptions.from_config(cfg))
    report.examples += cleaned.examples
    report.changed_any += cleaned.changed_any
    report.emptied.extend(cleaned.emptied)
    for step, count in cleaned.changed.items():
        report.changed[step] = report.changed.get(step, 0) + count
    empty = [became_empty(before, after) for before, after in zip(raw, examples)]
    kept = [ex for ex, e in zip(examples, empty) if not e]
    if not kept:
        raise DataError(
            f"Cleaning left no usable example in {path}: every one lost its user or model text. "
            "Turn data.clean_html off, or check that the file holds text and not only markup."
        )
    return kept, [ex.source or str(i) for i, (ex, e) in enumerate(zip(examples, empty)) if e]


def prepare_data(cfg: DataConfig, model: LoadedModel | None = None, *, augment: bool = True) -> PreparedData:
    """Read, clean and split the configured data; with `augment`, add marked copies to train only."""
    cleaning = CleaningReport()
    examples, dropped = _read_clean(cfg.train_path, cfg, cleaning)
    held = {}
    for name, path in (("validation", cfg.validation_path), ("test", cfg.test_path)):
        if path:
            held[name], lost = _read_clean(path, cfg, cleaning)
            dropped += lost
    splits = split_dataset(
        examples,
        0.0 if cfg.validation_path else cfg.validation_fraction,
        0.0 if cfg.test_path else cfg.test_fraction,
        cfg.seed,
        by=cfg.split_by,
    )
    splits.validation = held.get("validation", splits.validation)
    splits.test = held.get("test", splits.test)
    report = AugmentReport(originals=len(splits.train))
    if augment and cfg.augment.methods:
        copies, report = augment_examples(splits.train, cfg.augment, seed=cfg.seed, model=model)
        splits.train = splits.train + copies
    return PreparedData(splits, cleaning, report, dropped, cfg.split_by)


def load_splits(cfg: DataConfig) -> tuple[list[Example], list[Example]]:
    """Train and validation examples after cleaning and splitting (no augmentation)."""
    splits = prepare_data(cfg, augment=False).splits
    return splits.train, splits.validation


def data_texts(cfg: DataConfig) -> list[str]:
    """Rendered texts of all configured data, without needing a tokenizer (to train a tiny vocab)."""
    splits = prepare_data(cfg, augment=False).splits
    return [render_text(ex) for ex in splits.train + splits.validation + splits.test]


def build_datasets(
    cfg: DataConfig,
    tokenizer: Tokenizer,
    *,
    batch_size: int,
    loss_groups: int = 1,
    num_epochs: int = 1,
    model: LoadedModel | None = None,
    prepared: PreparedData | None = None,
) -> Datasets:
    """Prepare (or take `prepared`), tokenize, truncate and pack; train repeats, held-out splits are one pass.

    `model` is needed only by the model-based augmentation methods (back_translation, paraphrase).
    """
    if cfg.sequence_length < 2:
        raise DataError(f"data.sequence_length must be at least 2 tokens; got {cfg.sequence_length}.")
    prepared = prepared or prepare_data(cfg, model)
    splits = prepared.splits
    common = {
        "sequence_length": cfg.sequence_length,
        "batch_size": batch_size,
        "seed": cfg.seed,
        "packing": cfg.packing,
        "loss_groups": loss_groups,
    }
    cut: dict[str, dict] = {}

    def tokenized(name: str, examples: list[Example]) -> list[TokenizedExample]:
        full = tokenize_examples(examples, tokenizer, cfg.loss_on, cfg.allow_special_tokens)
        cut[name] = truncation_stats(full, cfg.sequence_length, cfg.truncation).to_dict()
        return truncate_examples(full, cfg.sequence_length, cfg.truncation)

    train = BatchIterator(
        tokenized("train", splits.train), shuffle=cfg.shuffle, num_epochs=num_epochs, repeat=True, **common
    )
    held: dict[str, BatchIterator | None] = {}
    for name, examples in (("validation", splits.validation), ("test", splits.test)):
        held[name] = None
        if examples:
            held[name] = BatchIterator(tokenized(name, examples), shuffle=False, num_epochs=1, repeat=False, **common)
    stats = _stats(train, held["validation"], held["test"], prepared, cut)
    return Datasets(train, held["validation"], stats, splits.train, splits.validation, held["test"], splits.test)


def _stats(
    train: BatchIterator,
    validation: BatchIterator | None,
    test: BatchIterator | None,
    prepared: PreparedData,
    cut: dict[str, dict],
) -> dict:
    splits = prepared.splits
    rows = train.packed(0)
    tokens = int((rows.segment_ids > 0).sum())
    capacity = rows.num_rows * train.sequence_length
    augmented = prepared.augmentation.total
    return {
        "examples": len(splits.train) - augmented + len(splits.validation) + len(splits.test),
        "train_examples": len(splits.train),
        "validation_examples": len(splits.validation),
        "test_examples": len(splits.test),
        "augmented_examples": augmented,
        "tokens": tokens,
        "loss_tokens": int(rows.loss_mask.sum()),
        "rows": rows.num_rows,
        "packing_efficiency": tokens / capacity if capacity else 0.0,
        "truncated": cut["train"]["examples_cut"],
        "truncation": cut["train"],
        "steps_per_epoch": train.steps_per_epoch,
        "loss_capacity": train.loss_capacity,
        "sequence_length": train.sequence_length,
        "validation_rows": validation.packed(0).num_rows if validation is not None else 0,
        "validation_truncated": cut.get("validation", {}).get("examples_cut", 0),
        "test_rows": test.packed(0).num_rows if test is not None else 0,
        "test_truncated": cut.get("test", {}).get("examples_cut", 0),
        **prepared.summary(),
    }
