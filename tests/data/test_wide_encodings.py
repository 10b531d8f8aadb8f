"""UTF-16 and UTF-32 data (with or without a BOM, either byte order) read as CSV, JSON Lines, text and
whole JSON documents (which stream through ijson as UTF-8 files do).

codecs.lookup() names these codecs with hyphens (utf-16, utf-32-le, ...); the reader once looked for
underscores, so `--encoding utf-16` refused the very file it had suggested that setting for.
"""

from __future__ import annotations

import codecs
import json
import time
from dataclasses import replace

import pytest
from reader_memory import read_in_fresh_process

from gemma_jax.cli import main
from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import DataError, json_readers, read_examples
from gemma_jax.data.readers import stream_items

CFG = DataConfig()
CSV = 'prompt,response\nHi?,"Arr, héllo"\n2+2?,4\n'
JSONL = "".join(json.dumps({"prompt": p, "response": r}, ensure_ascii=False) + "\n" for p, r in [("Qé?", "A ☃")] * 2)
TEXT = "first line\r\nsecond ünïcode line\n"
WIDE = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]


def _read(tmp_path, name: str, text: str, written: str, setting: str, **changes):
    path = tmp_path / name
    path.write_bytes(text.encode(written))
    return read_examples(str(path), replace(CFG, encoding=setting, **changes))


@pytest.mark.parametrize("written", WIDE)
@pytest.mark.parametrize("setting", ["exact", "family"])
def test_wide_encodings_read_csv_jsonl_and_text(tmp_path, written, setting):
    # "exact": data.encoding names the codec the file was written with; "family": utf-16 or utf-32 for a
    # file written with an explicit byte order (no BOM): the order is taken from the file, not the machine.
    encoding = written if setting == "exact" else written[:6]
    csv = _read(tmp_path, "qa.csv", CSV, written, encoding)
    assert [(e.prompt, e.response) for e in csv] == [("Hi?", "Arr, héllo"), ("2+2?", "4")]
    jsonl = _read(tmp_path, "qa.jsonl", JSONL, written, encoding)
    assert [(e.prompt, e.response) for e in jsonl] == [("Qé?", "A ☃")] * 2
    text = _read(tmp_path, "book.txt", TEXT, written, encoding, format="text")
    assert [e.response for e in text] == ["first line", "second ünïcode line"]
    assert [e.source for e in text] == ["book.txt:1", "book.txt:2"]


@pytest.mark.parametrize("written", ["utf-16-le", "utf-32-be"])
def test_a_bom_is_dropped_when_the_setting_names_the_byte_order(tmp_path, written):
    path = tmp_path / "qa.csv"
    path.write_bytes("\ufeff".encode(written) + CSV.encode(written))
    examples = read_examples(str(path), replace(CFG, encoding=written))
    assert [e.prompt for e in examples] == ["Hi?", "2+2?"]


@pytest.mark.parametrize(("written", "named"), [("utf-16", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_wide_file_read_as_utf8_keeps_the_clear_message(tmp_path, written, named):
    path = tmp_path / "qa.csv"
    path.write_bytes(CSV.encode(written))  # with a BOM
    with pytest.raises(DataError, match=f"is {named} text, not utf-8. .*set data.encoding: {written}"):
        read_examples(str(path), CFG)


def test_utf32_read_as_utf16_names_utf32(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_bytes(JSONL.encode("utf-32"))
    with pytest.raises(DataError, match="is UTF-32 text, not utf-16"):
        read_examples(str(path), replace(CFG, encoding="utf-16"))


def test_data_check_reads_utf16(tmp_path, capsys):
    path = tmp_path / "utf16.csv"
    path.write_bytes(CSV.encode("utf-16"))
    assert main(["data", "check", str(path), "--encoding", "utf-16"]) == 0
    out = capsys.readouterr().out
    assert "utf16.csv: OK" in out and "2 usable example(s)" in out
    assert main(["data", "check", str(path)]) == 1
    assert "is UTF-16 text, not utf-8" in capsys.readouterr().out


# ----- whole JSON documents (arrays and objects), parsed whole and streamed --------------------------------
ROWS = [{"prompt": "Qé?", "response": "A ☃"}, {"prompt": "2+2?", "response": "4"}]
JSON_DOCUMENTS = {
    "array.json": json.dumps(ROWS, ensure_ascii=False, indent=1),
    "one_line.json": json.dumps(ROWS, ensure_ascii=False),
    "columns.json": json.dumps({k: [r[k] for r in ROWS] for k in ROWS[0]}, ensure_ascii=False, indent=1),
    "wrapped.json": json.dumps({"data": ROWS}, ensure_ascii=False, indent=1),
}


def _records(path, cfg):
    src, _, items = stream_items(str(path), cfg)
    return [(i.location.line, i.location.row, i.record) for i in items], [p.text() for p in src.problems]


@pytest.mark.parametrize("name", list(JSON_DOCUMENTS))
@pytest.mark.parametrize(
    ("written", "setting"),
    [("utf-16", "utf-16"), ("utf-32", "utf-32"), ("utf-16-be", "utf-16"), ("utf-32-le", "utf-32-le")]
    + [("utf-8-sig", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("latin-1", "latin-1")],
)
def test_json_documents_read_in_any_encoding_whole_and_streamed(tmp_path, monkeypatch, name, written, setting):
    """A JSON array or object in UTF-16/32 (with a BOM, or an order-specific codec without one), UTF-8 with a
    BOM, or another data.encoding reads the records of its UTF-8 twin, the same whole and streamed."""
    text = JSON_DOCUMENTS[name] if written != "latin-1" else JSON_DOCUMENTS[name].replace("☃", "x")
    (tmp_path / "utf8").mkdir()
    twin = tmp_path / "utf8" / name
    twin.write_text(text, encoding="utf-8")
    path = tmp_path / name
    path.write_bytes(text.encode(written))
    cfg = replace(CFG, encoding=setting)
    expected = _records(twin, CFG)
    assert expected[0] and not expected[1]
    assert _records(path, cfg) == expected
    monkeypatch.setattr(json_readers, "STREAM_JSON_BYTES", 0)  # every document streams through ijson
    assert _records(path, cfg) == expected == _records(twin, CFG)


def test_a_big_utf16_json_array_streams_in_bounded_memory(tmp_path):
    """40 MB of UTF-16 (over max_record_bytes, so it was refused as "read whole") reads record by record."""
    path = tmp_path / "big.json"
    row = json.dumps({"prompt": "What is the capital of France? é" * 4, "response": "Paris ☃. " * 20})
    count = 20_000_000 // (len(row) + 2)
    with path.open("w", encoding="utf-16") as f:
        f.write("[" + ", ".join([row] * count) + "]")
    assert path.stat().st_size > 39_000_000
    started = time.perf_counter()
    n, problems, grown = read_in_fresh_process(path, "utf-16")
    assert (n, problems) == (count, 0)
    assert grown < 20_000_000, f"peak RSS grew by {grown / 1e6:.1f} MB reading a 40 MB UTF-16 JSON array"
    assert time.perf_counter() - started < 60


def test_a_streamed_json_file_that_stops_decoding_says_so_once(tmp_path, monkeypatch):
    """Bytes past the first 64 KiB that are not UTF-16 (a lone surrogate) end the stream with one encoding
    problem, not a JSON syntax error as well; the records before them are kept."""
    rows = [{"prompt": f"q{i}", "response": "a" * 100} for i in range(2000)]
    text = "[\n" + ",\n".join(json.dumps(r) for r in rows) + ',\n{"prompt": "x", "response": "\ud800"}\n]\n'
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("utf-16", "surrogatepass"))
    monkeypatch.setattr(json_readers, "STREAM_JSON_BYTES", 0)
    src, _, items = stream_items(str(path), replace(CFG, encoding="utf-16"))
    assert len(list(items)) > 500
    assert [(p.code, "is not utf-16 text" in p.message) for p in src.problems] == [("encoding", True)]


def test_a_utf8_bom_read_as_utf16_names_utf8(tmp_path):
    path = tmp_path / "qa.json"
    path.write_bytes(codecs.BOM_UTF8 + JSON_DOCUMENTS["array.json"].encode("utf-8"))
    with pytest.raises(DataError, match="is UTF-8 text, not utf-16. Set data.encoding: utf-8"):
        read_examples(str(path), replace(CFG, encoding="utf-16"))


def test_data_check_reads_a_utf16_json_array(tmp_path, capsys):
    path = tmp_path / "utf16.json"
    path.write_bytes(JSON_DOCUMENTS["array.json"].encode("utf-16"))
    assert main(["data", "check", str(path), "--encoding", "utf-16"]) == 0
    out = capsys.readouterr().out
    assert "utf16.json: OK" in out and "2 usable example(s)" in out
