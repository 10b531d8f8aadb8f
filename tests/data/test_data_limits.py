"""Each reader cap (gemma_jax/data/limits.py) answers with a message naming the cap, its value, the file
and the place; and messages stay short however much a file gives to quote."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hostile_files import GOOD, SEED, nested, parquet, xls, xlsx

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import DataError, limits, read_examples
from gemma_jax.data.report import Location, Problem


def _small(monkeypatch, **caps) -> None:
    monkeypatch.setattr(limits, "LIMITS", limits.Limits(**caps))


def _answer(path: Path, **cfg) -> str:
    with pytest.raises(DataError) as info:
        read_examples(str(path), replace(DataConfig(), **cfg))
    return str(info.value)


@pytest.mark.parametrize(
    ("cap", "value", "name", "content", "where"),
    [
        ("max_record_bytes", 100, "long.jsonl", GOOD + b'{"prompt": "' + b"p" * 200 + b'"}\n', "line 2"),
        ("max_cell_chars", 20, "cell.csv", b"prompt,response\nq," + b"r" * 50 + b"\n", "line 2, column 'response'"),
        ("max_columns", 3, "wide.csv", b"a,b,c,d,e\n1,2,3,4,5\n", "line 1"),
        ("max_json_depth", 3, "deep.jsonl", GOOD + nested(5), "line 2"),
    ],
)
def test_text_format_caps_name_the_cap_its_value_and_the_place(monkeypatch, tmp_path, cap, value, name, content, where):
    path = tmp_path / name
    path.write_bytes(content)
    _small(monkeypatch, **{cap: value})
    message = _answer(path)
    shown = limits.size_text(value) if cap.endswith("bytes") else f"{value:,}"
    assert f"over the {cap} limit of {shown}" in message, message
    assert name in message and where in message, message


def test_container_caps_name_the_cap(monkeypatch, tmp_path):
    pa = pytest.importorskip("pyarrow")
    rng = random.Random(SEED)
    book, old_book, table = tmp_path / "t.xlsx", tmp_path / "t.xls", tmp_path / "t.parquet"
    xlsx([["prompt", "response"], ["q", "a"]])(book, rng)
    xls([["prompt", "response"], ["q", "a"]])(old_book, rng)
    parquet(lambda: pa.table({"prompt": ["q"] * 100, "response": ["a"] * 100}))(table, rng)
    _small(monkeypatch, max_uncompressed_bytes=1000)
    assert "over the max_uncompressed_bytes limit of 1,000 bytes" in _answer(book)
    message = _answer(table)
    assert "row group 1 expands to" in message and "max_uncompressed_bytes" in message and "t.parquet" in message
    _small(monkeypatch, max_compression_ratio=2, ratio_free_bytes=0)
    message = _answer(book)
    assert "over the max_compression_ratio limit of 2" in message and "expands" in message and "t.xlsx" in message
    _small(monkeypatch, max_xls_bytes=100)
    assert "over the max_xls_bytes limit of 100 bytes" in _answer(old_book)


def test_messages_stay_short(monkeypatch, tmp_path):
    """A value quoted in a message, or many problems in one error, are cut at the message caps."""
    assert len(Problem(Location("f"), "x" * 50_000).message) <= limits.LIMITS.max_message_chars
    path = tmp_path / "bad.jsonl"
    path.write_text("".join('{"prompt": "' + "p" * 900 + f'{i}", "response": ""}}\n' for i in range(500)))
    message = _answer(path)
    assert len(message) <= limits.LIMITS.max_error_chars and "more problem(s)" in message
    path = tmp_path / "keys.jsonl"
    path.write_text(json.dumps({f"column_{'k' * 200}_{i}": "v" for i in range(4000)}) + "\n")
    assert len(_answer(path)) < 2000
