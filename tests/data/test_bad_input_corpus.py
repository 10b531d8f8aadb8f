"""A corpus of malformed data files: each gives a DataError (or report) naming the place, never a traceback,
and the user's file is never changed or deleted."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import DataError, read_examples
from gemma_jax.data.checks import build_report
from gemma_jax.data.readers import read_preference_pairs

CFG = DataConfig()
GOOD = '{"prompt": "Hi?", "response": "Arr!"}\n'
CHAT_OK = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Arr"}]


@dataclass(frozen=True)
class Case:
    name: str  # file name written in tmp_path
    content: bytes | Callable[[Path], None]
    where: str  # text the message must contain to point at the place ("" when the problem is the whole file)
    cfg: dict = field(default_factory=dict)
    reader: str = "examples"  # examples | pairs


def _garbage(seed: int, size: int = 4096) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size)) + b"\x00"


def _jsonl(*rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _xlsx(rows: list[list], sheet: str = "Sheet1") -> Callable[[Path], None]:
    def write(path: Path) -> None:
        openpyxl = pytest.importorskip("openpyxl")
        book = openpyxl.Workbook()
        book.active.title = sheet
        for row in rows:
            book.active.append(row)
        book.save(path)

    return write


def _parquet(columns: dict) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.table(columns), path)

    return write


def _huge_field(path: Path) -> None:
    with path.open("wb") as f:
        f.write(b'prompt,response\nq,"')
        chunk = b"x" * (1 << 20)
        for _ in range(50):  # a 50 MB value with no closing quote
            f.write(chunk)
        f.write(b"\n")


CASES = [
    # JSON and JSON Lines
    Case("truncated.json", b'[\n {"prompt": "a", "response": "b"},\n {"prompt": "c", "resp', "line 3, column"),
    Case("trailing_comma.json", b'[\n {"prompt": "a", "response": "b"},\n]\n', "line 3, column"),
    Case("truncated.jsonl", GOOD.encode() + b'{"prompt": "a", "resp', "line 2, column"),
    Case("list_line.jsonl", GOOD.encode() + b"[1, 2]\n", "line 2, column 1"),
    Case("string_line.jsonl", GOOD.encode() + b'"just text"\n', "line 2, column 1"),
    Case("scalar.json", b"42\n", "line 1, column 1"),
    Case("unequal_columns.json", b'{"prompt": ["a", "b"], "response": ["c"]}', "column 'response'"),
    Case("object_response.jsonl", _jsonl({"prompt": "q", "response": {"a": 1}}), "line 1, column 'response'"),
    Case("list_prompt.jsonl", _jsonl({"prompt": ["q"], "response": "a"}), "line 1, column 'prompt'"),
    Case(
        "missing_columns.jsonl",
        _jsonl({"question": "q", "answer": "a"}, {"question": "q2", "answer": "a2"}),
        "lines 1, 2",
    ),
    Case("null_response.jsonl", GOOD.encode() + _jsonl({"prompt": "q", "response": None}), "line 2, column 'response'"),
    # chat messages
    Case("messages_not_list.jsonl", _jsonl({"messages": "hello"}), "line 1, column 'messages'"),
    Case("messages_bad_role.jsonl", _jsonl({"messages": [{"role": "pirate", "content": "x"}]}), "message 1"),
    Case("messages_no_reply.jsonl", _jsonl({"messages": CHAT_OK[:1]}), "line 1, column 'messages'"),
    Case("messages_no_content.jsonl", _jsonl({"messages": [{"role": "user"}]}), "line 1, column 'messages', message 1"),
    Case("messages_empty.jsonl", _jsonl({"messages": []}), "line 1, column 'messages'"),
    Case("messages_bad_json.csv", b'messages\n"[{""role"": ""user"""\n', "line 2, column 'messages'"),
    # encodings and binary data
    Case("mixed_encoding.jsonl", GOOD.encode() * 2 + b'{"prompt": "caf\xe9", "response": "a"}\n', "line 3, column"),
    Case("latin1.csv", b"prompt,response\nq,caf\xe9\n", "line 2, column 6"),
    Case("utf16.jsonl", GOOD.encode("utf-16"), "data.encoding"),
    Case("wrong_encoding_setting.csv", b"prompt,response\nq,a\n", "data.encoding", {"encoding": "no-such-codec"}),
    Case("garbage.jsonl", _garbage(1), "line "),
    Case("garbage.csv", _garbage(2), "line "),
    Case("garbage.txt", _garbage(3), "line ", {"format": "text"}),
    Case("nul_in_middle.csv", b"prompt,response\nq,a\nq2,a\x002\n", "line 3, column 5"),
    # delimiters, quoting and columns
    Case("semicolons.csv", b"prompt;response\nq;a\n", "line 1"),
    Case("tabs_as_csv.csv", b"prompt\tresponse\nq\ta\n", "line 1"),
    Case("ragged.csv", b"prompt,response\nq,a,extra\n", "line 2, column 3"),
    Case("duplicate_header.csv", b"prompt,prompt,response\nq,q,a\n", "line 1, column 2"),
    Case("missing_response.csv", b"prompt,respnse\nq,a\n", "line 1 (the header)"),
    Case("empty_prompt_column.csv", b"prompt,response\n,a\n ,b\n,c\n", "line 2, column 'prompt'"),
    Case("huge_field.csv", _huge_field, "line 2"),
    # empty files
    Case("empty.jsonl", b"", ""),
    Case("blank.csv", b"\n \n\t\n", ""),
    Case("header_only.csv", b"prompt,response\n", ""),
    Case("empty.xlsx", b"", ""),
    # spreadsheets and Parquet
    Case("not_a_zip.xlsx", _garbage(4), ""),
    Case("not_ole.xls", _garbage(5), ""),
    Case("not_parquet.parquet", _garbage(6), ""),
    Case("missing_sheet.xlsx", _xlsx([["prompt", "response"], ["q", "a"]]), "'Sheet1'", {"sheet": "Data"}),
    Case("missing_column.xlsx", _xlsx([["prompt", "answer"], ["q", "a"]]), "row 1 (the header)"),
    Case("empty_cell.xlsx", _xlsx([["prompt", "response"], ["q", "a"], [None, "b"]]), "row 3, column 'prompt'"),
    Case(
        "null_response.parquet", _parquet({"prompt": ["a", "b"], "response": ["x", None]}), "row 2, column 'response'"
    ),
    # classification
    Case("nan_label.jsonl", b'{"text": "good", "label": 1}\n{"text": "bad", "label": NaN}\n', "line 2, column 'label'"),
    Case("nan_label.csv", b"text,label\ngood,1\nbad,nan\nok,\n", "line 3, column 'label'"),
    # preference pairs
    Case(
        "same_pair.jsonl",
        _jsonl({"prompt": "q", "chosen": "Same.", "rejected": "Same. "}),
        "line 1, column 'rejected'",
        reader="pairs",
    ),
    Case("no_rejected.csv", b"prompt,chosen\nq,a\n", "line 1 (the header)", reader="pairs"),
    Case(
        "empty_chosen.jsonl",
        _jsonl({"prompt": "q", "chosen": "", "rejected": "b"}),
        "line 1, column 'chosen'",
        reader="pairs",
    ),
    # plain text, paths, formats
    Case(
        "unmatched.txt",
        b"Q: a\nA: b\n\nnonsense here\n",
        "line 4",
        {"format": "text", "text_mode": "regex", "text_regex": r"Q: (?P<prompt>.*)\nA: (?P<response>.*)"},
    ),
    Case(
        "bad_regex.txt",
        b"hello\n",
        "data.text_regex",
        {"format": "text", "text_mode": "regex", "text_regex": "(?P<prompt>"},
    ),
    Case("unknown.dat", b"prompt,response\nq,a\n", "data.format"),
    Case("bad_format_setting.jsonl", GOOD.encode(), "data.format", {"format": "yaml"}),
]


def test_corpus_is_big_enough():
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_file_gives_a_clear_error_and_is_untouched(case: Case, tmp_path):
    path = tmp_path / case.name
    if callable(case.content):
        case.content(path)
    else:
        path.write_bytes(case.content)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    cfg = replace(CFG, **case.cfg)
    reader = read_preference_pairs if case.reader == "pairs" else read_examples
    with pytest.raises(DataError) as info:
        reader(str(path), cfg)
    message = str(info.value)
    assert type(info.value) is DataError
    assert case.name in message, message
    assert case.where in message, message
    assert "Traceback" not in message
    report = build_report(str(path), cfg)  # the report never raises either
    assert not report.ok and any(case.name in str(p) for p in report.errors)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [case.name]


@pytest.mark.parametrize("where", ["missing.jsonl", "folder"])
def test_missing_file_and_folder(tmp_path, where):
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="not found|is a folder") as info:
        read_examples(str(tmp_path / where), CFG)
    assert where in str(info.value)
