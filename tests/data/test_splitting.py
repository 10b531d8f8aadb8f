from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.errors import DataError
from gemma_jax.data.example import Example, Turn
from gemma_jax.data.pipeline import build_datasets
from gemma_jax.data.readers import split_examples
from gemma_jax.data.splitting import split_dataset, split_preview


def _labelled(sizes: dict[str, int]) -> list[Example]:
    out = []
    for label, size in sizes.items():
        for i in range(size):
            turns = (Turn("user", f"text {label} {i}"), Turn("model", label))
            out.append(Example(turns, f"f:{len(out) + 1}", kind="classification", label=label))
    order = np.random.default_rng(0).permutation(len(out))  # classes interleaved, as in a real file
    return [out[i] for i in order]


def _qa(n: int) -> list[Example]:
    return [Example.from_prompt_response(f"q{i}", f"a{i}", source=f"f:{i}") for i in range(n)]


def test_random_split_matches_the_old_validation_split():
    examples = _qa(57)
    splits = split_dataset(examples, 0.1, 0.0, seed=3)
    assert (splits.train, splits.validation) == split_examples(examples, 0.1, seed=3) and splits.test == []


def test_random_three_way_split_sizes_order_and_seed():
    examples = _qa(100)
    splits = split_dataset(examples, 0.1, 0.2, seed=7)
    assert [len(part) for _, part in splits.items()] == [70, 10, 20]
    sources = [ex.source for _, part in splits.items() for ex in part]
    assert sorted(sources) == sorted(ex.source for ex in examples)  # disjoint and complete
    for part in (splits.train, splits.validation, splits.test):  # file order kept
        assert [examples.index(ex) for ex in part] == sorted(examples.index(ex) for ex in part)
    assert split_dataset(examples, 0.1, 0.2, seed=7) == splits
    assert split_dataset(examples, 0.1, 0.2, seed=8).test != splits.test
    assert [len(p) for _, p in split_dataset(_qa(3), 0.1, 0.1, seed=0).items()] == [1, 1, 1]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "sizes,val,test",
    [
        ({"pos": 50, "neg": 30, "neutral": 15, "rare": 5}, 0.15, 0.1),
        ({"a": 7, "b": 3}, 0.2, 0.2),
        ({"x": 333, "y": 101, "z": 17, "w": 2, "v": 1}, 0.1, 0.05),
    ],
)
def test_stratified_split_keeps_label_proportions_within_one_example(sizes, val, test, seed):
    examples = _labelled(sizes)
    splits = split_dataset(examples, val, test, seed=seed, by="label")
    n = len(examples)
    targets = {"train": n - round(n * val) - round(n * test), "validation": round(n * val), "test": round(n * test)}
    for name, part in splits.items():
        counts = Counter(ex.label for ex in part)
        share = targets[name] / n
        for label, size in sizes.items():
            assert abs(counts[label] - size * share) <= 1, (name, label, counts[label], size * share)
        assert abs(len(part) - targets[name]) <= 1
    assert sorted(ex.source for _, part in splits.items() for ex in part) == sorted(ex.source for ex in examples)
    assert split_dataset(examples, val, test, seed=seed, by="label") == splits


def test_stratify_by_any_attribute_and_preview():
    examples = [replace(ex, label=None) for ex in _labelled({"yes": 20, "no": 10})]
    splits = split_dataset(examples, 0.2, 0.1, seed=1, by="response")  # classification-as-generation
    preview = split_preview(splits, "response")
    assert preview["total"] == 30 and preview["by"] == "response"
    assert preview["splits"]["validation"]["classes"] == {"no": 2, "yes": 4}
    assert preview["splits"]["test"]["classes"] == {"no": 1, "yes": 2}
    assert preview["splits"]["train"]["examples"] == 21
    assert preview["splits"]["train"]["class_fractions"]["yes"] == pytest.approx(14 / 21)
    assert split_preview(splits)["splits"]["test"] == {"examples": 3, "fraction": 0.1, "augmented": 0}


def test_bad_splits_are_explained():
    examples = _qa(10)
    with pytest.raises(DataError, match="leave nothing to train on"):
        split_dataset(examples, 0.5, 0.5)
    with pytest.raises(DataError, match="test_fraction must be at least 0 and below 1"):
        split_dataset(examples, 0.1, 1.2)
    with pytest.raises(DataError, match="Cannot stratify by 'label'"):
        split_dataset(examples, 0.2, 0.0, by="label")
    with pytest.raises(DataError, match="augment only the train split"):
        split_dataset([replace(examples[0], augmentation="swap:0"), *examples[1:]], 0.2)


def test_pipeline_test_split_stratified(tokenizer, write):
    rows = [{"prompt": f"Is {i} even?", "response": "yes" if i % 3 == 0 else "no"} for i in range(60)]
    path = write("even.jsonl", rows)
    cfg = DataConfig(
        train_path=path, validation_fraction=0.1, test_fraction=0.2, split_by="response", sequence_length=32
    )
    ds = build_datasets(cfg, tokenizer, batch_size=2)
    assert (ds.stats["train_examples"], ds.stats["validation_examples"], ds.stats["test_examples"]) == (42, 6, 12)
    assert Counter(ex.response for ex in ds.test_examples) == {"yes": 4, "no": 8}
    assert ds.stats["split"]["splits"]["validation"]["classes"] == {"no": 4, "yes": 2}
    assert ds.test is not None and sum(1 for _ in ds.make_test_iterator()) == ds.test.steps_per_epoch
    assert ds.stats["examples"] == 60 and len(ds.all_texts) == 60
