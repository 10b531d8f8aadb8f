"""From a DataConfig to ready-to-train batch iterators plus the numbers a UI shows.

read -> clean -> split (train / validation / test) -> augment train only -> template
-> tokenize -> truncate -> pack -> batch. Augmentation runs after splitting and only on
the train split, so copies of held-out examples can never be trained on.

Preference pairs (`pairs=True`, for DPO) take the same path: read, clean (prompt, chosen
and rejected), split, augment (the prompt), then tokenize both conversations of a pair
and pack the pair as one unit (`preference_batches.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.augment import AugmentReport, augment_examples
from gemma_jax.data.batches import BatchIterator
from gemma_jax.data.chat_template import render_text
from gemma_jax.data.cleaning import CleaningOptions, CleaningReport, became_unusable, clean_examples
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example
from gemma_jax.data.lengths import truncate_examples, truncation_stats
from gemma_jax.data.preference_batches import PreferenceBatchIterator, tokenize_pairs
from gemma_jax.data.preference_pair import PreferencePair, pair_examples
from gemma_jax.data.readers import read_examples, read_preference_pairs
from gemma_jax.data.splitting import Splits, split_dataset, split_preview
from gemma_jax.data.tokenize import Tokenizer, tokenize_examples

if TYPE_CHECKING:
    from gemma_jax.models.loaded_model import LoadedModel

MAX_LISTED = 20  # sources listed in stats (the counts are always complete)


@dataclass
class PreparedData:
    """Examples (or preference pairs) after cleaning, splitting and (train-only) augmentation,
    with what each step did."""

    splits: Splits
    cleaning: CleaningReport
    augmentation: AugmentReport
    dropped_empty: list[str] = field(default_factory=list)  # sources of examples cleaning made unusable
    split_by: str | None = None
    pairs: bool = False  # the splits hold PreferencePairs (DPO)

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
    """Batch iterators per split and the examples behind them (for pairs: prompt + chosen reply)."""

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


def _read_clean(path: str, cfg: DataConfig, report: CleaningReport, pairs: bool) -> tuple[list, list[str]]:
    """Read and clean one file; examples (pairs) that cleaning made unusable are dropped."""
    raw = (read_preference_pairs if pairs else read_examples)(path, cfg)
    examples, cleaned = clean_examples(raw, CleaningOptions.from_config(cfg))
    report.examples += cleaned.examples
    report.changed_any += cleaned.changed_any
    report.emptied.extend(cleaned.emptied)
    for step, count in cleaned.changed.items():
        report.changed[step] = report.changed.get(step, 0) + count
    empty = [became_unusable(before, after) for before, after in zip(raw, examples)]
    kept = [ex for ex, e in zip(examples, empty) if not e]
    if not kept:
        what = "lost its user or model text" + (" or its chosen and rejected reply became the same" if pairs else "")
        raise DataError(
            f"Cleaning left no usable {'pair' if pairs else 'example'} in {path}: every one {what}. "
            "Turn data.clean_html off, or check that the file holds text and not only markup."
        )
    return kept, [ex.source or str(i) for i, (ex, e) in enumerate(zip(examples, empty)) if e]


def prepare_data(
    cfg: DataConfig, model: LoadedModel | None = None, *, augment: bool = True, pairs: bool = False
) -> PreparedData:
    """Read, clean and split the configured data; with `augment`, add marked copies to train only.

    `pairs`: read preference pairs (prompt, chosen, rejected) for DPO instead of examples.
    """
    cleaning = CleaningReport()
    examples, dropped = _read_clean(cfg.train_path, cfg, cleaning, pairs)
    held = {}
    for name, path in (("validation", cfg.validation_path), ("test", cfg.test_path)):
        if path:
            held[name], lost = _read_clean(path, cfg, cleaning, pairs)
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
    return PreparedData(splits, cleaning, report, dropped, cfg.split_by, pairs)


def load_splits(cfg: DataConfig, *, pairs: bool = False) -> tuple[list, list]:
    """Train and validation examples (or pairs) after cleaning and splitting (no augmentation)."""
    splits = prepare_data(cfg, augment=False, pairs=pairs).splits
    return splits.train, splits.validation


def conversations(item: Example | PreferencePair) -> tuple[Example, ...]:
    """The conversations an item is rendered as: an example itself, a pair's chosen and rejected one."""
    return pair_examples(item) if isinstance(item, PreferencePair) else (item,)


def data_texts(cfg: DataConfig, *, pairs: bool = False) -> list[str]:
    """Rendered texts of all configured data, without needing a tokenizer (to train a tiny vocab)."""
    splits = prepare_data(cfg, augment=False, pairs=pairs).splits
    return [render_text(ex) for item in splits.train + splits.validation + splits.test for ex in conversations(item)]


def build_datasets(
    cfg: DataConfig,
    tokenizer: Tokenizer,
    *,
    batch_size: int,
    loss_groups: int = 1,
    num_epochs: int = 1,
    model: LoadedModel | None = None,
    prepared: PreparedData | None = None,
    pairs: bool = False,
) -> Datasets:
    """Prepare (or take `prepared`), tokenize, truncate and pack; train repeats, held-out splits are one pass.

    `model` is needed only by the model-based augmentation methods (back_translation, paraphrase).
    `pairs` (or a `prepared` holding pairs): preference pairs for DPO, packed a pair per unit into
    `PreferenceBatchIterator`s; the Datasets' example lists then hold each pair's prompt + chosen reply.
    """
    if cfg.sequence_length < 2:
        raise DataError(f"data.sequence_length must be at least 2 tokens; got {cfg.sequence_length}.")
    prepared = prepared or prepare_data(cfg, model, pairs=pairs)
    splits = prepared.splits
    common = {
        "sequence_length": cfg.sequence_length,
        "batch_size": batch_size,
        "seed": cfg.seed,
        "packing": cfg.packing,
        "loss_groups": loss_groups,
    }
    cut: dict[str, dict] = {}

    def iterator(name: str, items: list, **kwargs) -> BatchIterator | None:
        if prepared.pairs:
            tokens = tokenize_pairs(items, tokenizer, cfg.sequence_length)
            cut[name] = {
                "mode": "pair",
                "examples_cut": sum(p.truncated for p in tokens if p.positions),
                "pairs_skipped": sum(1 for p in tokens if not p.positions),
            }
            if name != "train" and not any(p.positions for p in tokens):
                return None  # no held-out pair fits: evaluate nothing rather than fail the run
            return PreferenceBatchIterator(tokens, **kwargs, **common)
        full = tokenize_examples(items, tokenizer, cfg.loss_on, cfg.allow_special_tokens)
        cut[name] = truncation_stats(full, cfg.sequence_length, cfg.truncation).to_dict()
        return BatchIterator(truncate_examples(full, cfg.sequence_length, cfg.truncation), **kwargs, **common)

    train = iterator("train", splits.train, shuffle=cfg.shuffle, num_epochs=num_epochs, repeat=True)
    held: dict[str, BatchIterator | None] = {}
    for name, items in (("validation", splits.validation), ("test", splits.test)):
        held[name] = iterator(name, items, shuffle=False, num_epochs=1, repeat=False) if items else None
    stats = _stats(train, held["validation"], held["test"], prepared, cut)
    examples = {name: [conversations(item)[0] for item in items] for name, items in splits.items()}
    return Datasets(
        train,
        held["validation"],
        stats,
        examples["train"],
        examples["validation"],
        held["test"],
        examples["test"],
    )


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
    originals = len(splits.train) - augmented + len(splits.validation) + len(splits.test)
    extra = {}
    if prepared.pairs:
        extra = {"pairs": originals, "skipped_pairs": sum(c["pairs_skipped"] for c in cut.values())}
    return {
        "examples": originals,
        **extra,
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
