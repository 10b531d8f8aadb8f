from __future__ import annotations

import numpy as np
import pytest

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.batches import BatchIterator
from gemma_jax.data.errors import DataError
from gemma_jax.data.lengths import (
    length_report,
    packing_efficiency,
    suggest_sequence_length,
    truncate,
    truncate_examples,
    truncation_stats,
)
from gemma_jax.data.pipeline import build_datasets
from gemma_jax.data.tokenize import TokenizedExample


def _example(prompt: int, response: int) -> TokenizedExample:
    """<bos> (id 2), prompt ids 100.., response ids 500.. (the loss tokens)."""
    ids = np.concatenate([[2], np.arange(100, 100 + prompt), np.arange(500, 500 + response)]).astype(np.int32)
    loss = np.concatenate([[False], np.zeros(prompt, bool), np.ones(response, bool)])
    return TokenizedExample(ids, loss)


def test_truncation_modes():
    ex = _example(prompt=6, response=3)  # 10 tokens
    right = truncate(ex, 6, "right")
    assert right.ids.tolist() == [2, 100, 101, 102, 103, 104] and not right.loss.any()
    left = truncate(ex, 6, "left")
    assert left.ids.tolist() == [2, 104, 105, 500, 501, 502]
    keep = truncate(ex, 6, "keep_response")
    assert keep.ids.tolist() == [2, 104, 105, 500, 501, 502] and keep.loss.tolist() == [False] * 3 + [True] * 3
    # multi-turn: the response starts at the first loss token; left cuts into it, keep_response does not
    chat = TokenizedExample(
        np.array([2, 100, 101, 102, 103, 500, 501, 104, 105, 502], np.int32),
        np.array([0, 0, 0, 0, 0, 1, 1, 0, 0, 1], bool),
    )
    assert truncate(chat, 7, "keep_response").ids.tolist() == [2, 103, 500, 501, 104, 105, 502]
    assert truncate(chat, 5, "keep_response").ids.tolist() == [2, 500, 501, 104, 105]  # the first answer survives
    assert truncate(chat, 5, "left").ids.tolist() == [2, 501, 104, 105, 502]
    # a response longer than the budget keeps its start, and no prompt
    assert truncate(_example(4, 8), 5, "keep_response").ids.tolist() == [2, 500, 501, 502, 503]
    assert truncate(ex, 20, "left") is ex
    with pytest.raises(DataError, match="truncation"):
        truncate(ex, 6, "middle")


def test_truncation_stats_count_examples_tokens_and_loss_tokens():
    examples = [_example(3, 2), _example(10, 4), _example(2, 12)]  # 6, 15, 15 tokens
    right = truncation_stats(examples, sequence_length=9, mode="right")  # rows hold 10 tokens
    assert (right.examples_cut, right.tokens_cut) == (2, 10)
    assert right.loss_tokens_cut == 4 + 5 and right.responses_emptied == 1
    keep = truncation_stats(examples, sequence_length=9, mode="keep_response")
    assert (keep.examples_cut, keep.tokens_cut, keep.loss_tokens_cut, keep.responses_emptied) == (2, 10, 3, 0)
    assert [len(ex) for ex in truncate_examples(examples, 9, "left")] == [6, 10, 10]


def test_suggested_sequence_length():
    lengths = list(range(50, 150))  # positions 49..148
    assert suggest_sequence_length(lengths) == 192  # p95 = 143 positions -> next multiple of 64
    assert suggest_sequence_length(lengths, context_length=128) == 128
    assert suggest_sequence_length([3, 4]) == 64
    assert suggest_sequence_length(lengths, percentile=50, multiple=32) == 128


def test_length_report_histogram_percentiles_and_packing(make_examples):
    examples = make_examples(200, min_len=3, max_len=90, seed=1)
    report = length_report(examples, sequence_length=64, context_length=1024, bins=10)
    lengths = np.array([len(ex) for ex in examples])
    assert report.count == 200 and sum(report.bin_counts) == 200 and len(report.bin_edges) == 11
    assert report.bin_edges[0] == lengths.min() and report.bin_edges[-1] == lengths.max()
    assert report.percentiles["max"] == lengths.max()
    assert (
        report.percentiles["p50"] <= report.percentiles["p90"] <= report.percentiles["p95"] <= report.percentiles["p99"]
    )
    assert report.fits == int((lengths <= 65).sum()) and report.truncation.examples_cut == 200 - report.fits
    assert report.suggested_sequence_length % 64 == 0
    assert 0 < report.padding_efficiency < report.packing_efficiency <= 1
    data = report.to_dict()
    assert data["histogram"]["counts"] == report.bin_counts and data["truncation"]["mode"] == "right"


def test_packing_efficiency_matches_the_batch_iterator(make_examples):
    examples = truncate_examples(make_examples(120, min_len=3, max_len=60, seed=2), 48)
    iterator = BatchIterator(examples, sequence_length=48, batch_size=2, seed=5, shuffle=True)
    rows = iterator.packed(0)
    actual = float((rows.segment_ids > 0).sum()) / (rows.num_rows * 48)
    assert packing_efficiency([len(ex) for ex in examples], 48, seed=5) == pytest.approx(actual)


def test_keep_response_through_the_pipeline(tokenizer, write):
    rows = [{"prompt": "word " * 60 + f"question {i}", "response": f"Short answer {i}."} for i in range(4)]
    path = write("long.jsonl", rows)
    stats = {}
    for mode in ("right", "keep_response"):
        cfg = DataConfig(train_path=path, validation_fraction=0.0, sequence_length=32, truncation=mode)
        stats[mode] = build_datasets(cfg, tokenizer, batch_size=2).stats
    assert stats["right"]["truncated"] == stats["keep_response"]["truncated"] == 4
    assert stats["right"]["truncation"]["loss_tokens_cut"] > 0 and stats["right"]["loss_tokens"] == 0
    assert stats["keep_response"]["truncation"]["loss_tokens_cut"] == 0
    assert stats["keep_response"]["loss_tokens"] > 0
