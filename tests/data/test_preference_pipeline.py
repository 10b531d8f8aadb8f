"""Preference pairs go through the SFT pipeline: cleaning, train/validation/test splits, train-only augmentation."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from gemma_jax.config.job_config import AugmentConfig, DataConfig
from gemma_jax.data.augment import augment_examples
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Turn
from gemma_jax.data.pipeline import build_datasets, data_texts, prepare_data
from gemma_jax.data.preference_batches import PreferenceBatchIterator
from gemma_jax.data.preference_pair import PreferencePair
from gemma_jax.data.readers import read_preference_pairs, split_examples


def _pairs(n: int, topic=lambda i: "ships" if i % 3 else "parrots") -> list[dict]:
    return [
        {
            "prompt": f"Tell me about the quick brown {topic(i)} number {i} today",
            "chosen": f"Arr, {topic(i)} {i} be grand.",
            "rejected": f"No idea about {i}.",
            "topic": topic(i),
        }
        for i in range(n)
    ]


def test_pairs_are_cleaned_like_examples(write):
    rows = [
        {"prompt": "<p>What&amp;s   up?</p>", "chosen": "Arr,\u00a0 fine!\x07", "rejected": "<b>Bad</b>  day."},
        {"prompt": "Same?", "chosen": "<i>Same</i>", "rejected": "Same"},  # equal once the markup goes
        {"prompt": "Cafe\u0301?", "chosen": "Yes.", "rejected": "No."},
    ]
    path = write("p.jsonl", rows)
    before = Path(path).read_bytes()
    cfg = DataConfig(train_path=path, validation_fraction=0.0, clean_html=True, normalize_whitespace=True)
    prepared = prepare_data(cfg, pairs=True)
    assert prepared.pairs and prepared.splits.train == [
        PreferencePair((Turn("user", "What&s up?"),), "Arr, fine!", "Bad day.", "p.jsonl:1"),
        PreferencePair((Turn("user", "Café?"),), "Yes.", "No.", "p.jsonl:3"),
    ]
    assert prepared.dropped_empty == ["p.jsonl:2"] and prepared.cleaning.emptied == ["p.jsonl:2"]
    assert prepared.cleaning.changed == {"html": 2, "unicode": 1, "control": 1, "whitespace": 1}
    off = replace(cfg, clean_html=False, unicode_form=None, drop_control_chars=False, normalize_whitespace=False)
    assert prepare_data(off, pairs=True).splits.train == read_preference_pairs(path, off)  # each step switchable
    assert Path(path).read_bytes() == before
    only_markup = write("m.jsonl", [{"prompt": "Q?", "chosen": "<i>A</i>", "rejected": "A"}])
    with pytest.raises(DataError, match="Cleaning left no usable pair"):
        prepare_data(replace(cfg, train_path=only_markup), pairs=True)


def test_pair_splits_three_ways_stratified_by_a_column(write, tokenizer):
    path = write("pairs.jsonl", _pairs(60))
    cfg = DataConfig(train_path=path, validation_fraction=0.1, test_fraction=0.2, split_by="topic", sequence_length=256)
    ds = build_datasets(cfg, tokenizer, batch_size=2, pairs=True)
    assert (ds.stats["train_examples"], ds.stats["validation_examples"], ds.stats["test_examples"]) == (42, 6, 12)
    assert ds.stats["pairs"] == 60 and ds.stats["split"]["splits"]["test"]["classes"] == {"parrots": 4, "ships": 8}
    assert ds.stats["split"]["splits"]["validation"]["classes"] == {"parrots": 2, "ships": 4}
    assert isinstance(ds.test, PreferenceBatchIterator) and isinstance(ds.validation, PreferenceBatchIterator)
    batches = list(ds.make_test_iterator())
    assert len(batches) == ds.test.steps_per_epoch and sum(b["num_pairs"] for b in batches) == 12
    sources = [ex.source for ex in ds.train_examples + ds.validation_examples + ds.test_examples]
    assert sorted(sources) == sorted(f"pairs.jsonl:{i}" for i in range(1, 61))  # disjoint and complete
    assert Counter(dict(ex.columns)["topic"] for ex in ds.test_examples) == {"parrots": 4, "ships": 8}

    # the default random split of pairs is the one DPO runs always had (validation only)
    plain = replace(cfg, test_fraction=0.0, split_by=None)
    splits = prepare_data(plain, pairs=True).splits
    assert (splits.train, splits.validation) == split_examples(read_preference_pairs(path, plain), 0.1, 0)
    legacy = build_datasets(plain, tokenizer, batch_size=2, pairs=True)
    assert legacy.stats["validation_examples"] == 6 and legacy.test is None


def test_pair_test_path(write, tokenizer):
    cfg = DataConfig(
        train_path=write("train.jsonl", _pairs(20)),
        test_path=write("test.jsonl", _pairs(5)),
        test_fraction=0.5,  # ignored: the test file is the test split
        validation_fraction=0.1,
        sequence_length=256,
    )
    ds = build_datasets(cfg, tokenizer, batch_size=2, pairs=True)
    assert (ds.stats["train_examples"], ds.stats["validation_examples"], ds.stats["test_examples"]) == (18, 2, 5)
    assert {ex.source.split(":")[0] for ex in ds.test_examples} == {"test.jsonl"}


def test_pairs_are_augmented_on_the_prompt_train_only(write, tokenizer):
    cfg = DataConfig(
        train_path=write("pairs.jsonl", _pairs(30)),
        validation_fraction=0.2,
        test_fraction=0.1,
        sequence_length=256,
        augment=AugmentConfig(methods=("synonym", "swap")),
    )
    prepared = prepare_data(cfg, pairs=True)
    real = [p for p in prepared.splits.train if not p.augmentation]
    copies = [p for p in prepared.splits.train if p.augmentation]
    assert len(real) == 21 and len(copies) == prepared.augmentation.total == 42
    assert not any(p.augmentation for p in prepared.splits.validation + prepared.splits.test)
    originals = {p.source: p for p in real}
    for copy in copies:  # only the prompt changed; the replies (what is preferred) are the original's
        original = originals[copy.source]
        assert copy.augmentation.split(":")[0] in ("synonym", "swap")
        assert (copy.chosen, copy.rejected) == (original.chosen, original.rejected)
        assert copy.prompt != original.prompt
    ds = build_datasets(cfg, tokenizer, batch_size=2, prepared=prepared)
    assert ds.stats["augmented_examples"] == 42 and ds.stats["split"]["splits"]["train"]["augmented"] == 42
    assert ds.stats["examples"] == ds.stats["pairs"] == 30
    assert sum(1 for ex in ds.train_examples if ex.augmentation) == 42
    assert ds.train.packed(0).example_ids.max() == len(prepared.splits.train) - 1  # copies are trained on
    texts = data_texts(cfg, pairs=True)  # the vocabulary texts: both conversations of each real pair, no copies
    assert texts == data_texts(cfg, pairs=True) and len(texts) == 60

    with pytest.raises(DataError, match="augmented on their prompt only"):
        augment_examples(real, AugmentConfig(methods=("swap",), turns="all"))


def test_stratify_pairs_by_a_missing_column_is_explained(write):
    path = write("pairs.jsonl", [{k: v for k, v in row.items() if k != "topic"} for row in _pairs(10)])
    with pytest.raises(DataError, match="Cannot stratify by 'topic'"):
        prepare_data(DataConfig(train_path=path, validation_fraction=0.2, split_by="topic"), pairs=True)
    assert json.loads(Path(path).read_text().splitlines()[0])["prompt"].startswith("Tell me")
