"""UTF-16 and UTF-32 data (with or without a BOM, either byte order) read as CSV, JSON Lines and text.

codecs.lookup() names these codecs with hyphens (utf-16, utf-32-le, ...); the reader once looked for
underscores, so `--encoding utf-16` refused the very file it had suggested that setting for.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gemma_jax.cli import main
from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import DataError, read_examples

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
