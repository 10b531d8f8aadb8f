"""Round trips for every reader and record shape, on files the tests write."""

from __future__ import annotations

import json
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest
from reader_memory import read_in_fresh_process

from gemma_jax.config import JobConfig, validate
from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import DataError, Example, Turn, json_readers, read_examples
from gemma_jax.data.preference_pair import PreferencePair
from gemma_jax.data.readers import iter_examples, read_preference_pairs, stream_items

CFG = DataConfig()
ROWS = [{"prompt": "Hi?", "response": "Arr, hi!"}, {"prompt": "2+2?", "response": "4"}]


def qa(examples: list[Example]) -> list[tuple[str, str]]:
    return [(e.prompt, e.response) for e in examples]


# ----- CSV / TSV ---------------------------------------------------------------------------------------------
def test_csv_delimiter_quote_encoding_and_no_header(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_bytes("'Ça va?';'Oui; très'\n'Q2';A2\n".encode("latin-1"))
    cfg = replace(CFG, delimiter=";", quote_char="'", encoding="latin-1", header=False)
    cfg = replace(cfg, prompt_column="column1", response_column="column2")
    assert qa(read_examples(str(path), cfg)) == [("Ça va?", "Oui; très"), ("Q2", "A2")]
    assert read_examples(str(path), cfg)[1].source == "semi.csv:2"


def test_tsv_and_utf8_bom(tmp_path):
    path = tmp_path / "qa.tsv"
    path.write_bytes(b"\xef\xbb\xbfprompt\tresponse\r\nHi?\tArr, hi!\r\n2+2?\t4\r\n")
    assert qa(read_examples(str(path), CFG)) == [(r["prompt"], r["response"]) for r in ROWS]


# ----- JSON --------------------------------------------------------------------------------------------------
def test_json_array_object_of_arrays_and_wrapped_rows(write):
    assert qa(read_examples(write("a.json", json.dumps(ROWS, indent=1)), CFG)) == qa(
        read_examples(write("a.jsonl", ROWS), CFG)
    )
    columns = {"prompt": [r["prompt"] for r in ROWS], "response": [r["response"] for r in ROWS]}
    examples = read_examples(write("cols.json", json.dumps(columns)), CFG)
    assert qa(examples) == [("Hi?", "Arr, hi!"), ("2+2?", "4")] and examples[1].source == "cols.json:2"
    assert len(read_examples(write("wrapped.json", json.dumps({"data": ROWS})), CFG)) == 2
    assert len(read_examples(write("lines.json", ROWS), CFG)) == 2  # JSON Lines named .json


def test_json_schema_problems_name_the_place(write):
    with pytest.raises(DataError, match=r"line 2, column 'response': the response must be text, not dict"):
        read_examples(write("typed.jsonl", [ROWS[0], {"prompt": "q", "response": {"a": 1}}]), CFG)


# ----- plain text --------------------------------------------------------------------------------------------
def test_text_lines_blocks_and_regex(write):
    path = write("book.txt", "First line.\n\nSecond block,\nstill second.\n")
    lines = read_examples(path, replace(CFG, format="text"))
    assert [e.response for e in lines] == ["First line.", "Second block,", "still second."]
    assert all(e.kind == "text" and [t.role for t in e.turns] == ["model"] for e in lines)
    blocks = read_examples(path, replace(CFG, format="text", text_mode="blocks"))
    assert [e.response for e in blocks] == ["First line.", "Second block,\nstill second."]
    assert [e.source for e in blocks] == ["book.txt:1", "book.txt:3"]
    regex = r"Q: (?P<prompt>.*)\nA: (?P<response>.*)"
    path = write("qa.txt", "Q: Hi?\nA: Arr!\n\nQ: Bye?\nA: Fair winds.\nQ: x?\nA: y\n")
    examples = read_examples(path, replace(CFG, format="text", text_mode="regex", text_regex=regex))
    assert qa(examples) == [("Hi?", "Arr!"), ("Bye?", "Fair winds."), ("x?", "y")]
    assert [e.source for e in examples] == ["qa.txt:1", "qa.txt:4", "qa.txt:6"]


# ----- Excel and Parquet -------------------------------------------------------------------------------------
def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> str:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return str(path)


def write_xls(path: Path, rows: list[list], sheet: str = "Data") -> str:
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    page = book.add_sheet(sheet)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                page.write(r, c, value)
    book.save(str(path))
    return str(path)


def test_xlsx_with_sheet_choice(tmp_path):
    path = write_xlsx(
        tmp_path / "book.xlsx",
        {"Notes": [["nothing here"]], "Data": [["prompt", "response"], ["Hi?", "Arr, hi!"], [None, None], ["2+2?", 4]]},
    )
    examples = read_examples(path, replace(CFG, sheet="Data"))
    assert qa(examples) == [("Hi?", "Arr, hi!"), ("2+2?", "4")]
    assert [e.source for e in examples] == ["book.xlsx:2", "book.xlsx:4"]  # spreadsheet row numbers
    with pytest.raises(DataError, match="no sheet named 'Sheet9'.*'Notes', 'Data'"):
        read_examples(path, replace(CFG, sheet="Sheet9"))


def test_xls(tmp_path):
    path = write_xls(tmp_path / "old.xls", [["text", "label"], ["great film", 1], ["awful", 0], ["fine", 1.5]])
    examples = read_examples(path, CFG)
    assert [(e.prompt, e.label, e.kind) for e in examples] == [
        ("great film", "1", "classification"),
        ("awful", "0", "classification"),
        ("fine", "1.5", "classification"),
    ]


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "rows.parquet"
    messages = [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Arr"}]] * 3
    pq.write_table(pa.table({"messages": messages}), path, row_group_size=2)
    examples = read_examples(str(path), CFG)
    assert [e.response for e in examples] == ["Arr"] * 3 and examples[2].source == "rows.parquet:3"


# ----- record shapes -----------------------------------------------------------------------------------------
def test_shapes_are_detected(write):
    text = read_examples(write("corpus.jsonl", [{"text": "Once upon a time."}]), CFG)
    assert text[0].kind == "text" and text[0].turns == (Turn("model", "Once upon a time."),)
    labelled = read_examples(write("cls.jsonl", [{"text": "good", "label": "pos"}, {"text": "bad", "label": 0}]), CFG)
    assert [(e.kind, e.label, e.response) for e in labelled] == [
        ("classification", "pos", "pos"),
        ("classification", "0", "0"),
    ]
    pref = read_examples(write("pref.jsonl", [{"prompt": "Q", "chosen": "good", "rejected": "bad"}]), CFG)
    assert pref[0].kind == "preference" and pref[0].response == "good"


def test_preference_pairs_from_columns_and_conversations(write):
    rows = [{"prompt": "Q?", "chosen": "Yes.", "rejected": "No.", "system": "Be nice."}]
    [pair] = read_preference_pairs(write("p.jsonl", rows), replace(CFG, system_column="system"))
    assert pair == PreferencePair((Turn("system", "Be nice."), Turn("user", "Q?")), "Yes.", "No.", "p.jsonl:1")
    user = {"role": "user", "content": "Q?"}
    conv = [
        {
            "chosen": [user, {"role": "assistant", "content": "A"}],
            "rejected": [user, {"role": "assistant", "content": "B"}],
        }
    ]
    [pair] = read_preference_pairs(write("conv.jsonl", conv), CFG)
    assert pair.prompt == (Turn("user", "Q?"),) and (pair.chosen, pair.rejected) == ("A", "B")
    path = write("pairs.csv", "question,good,bad\nQ,A,B\n")
    cfg = replace(CFG, prompt_column="question", chosen_column="good", rejected_column="bad")
    assert read_preference_pairs(path, cfg)[0].chosen == "A"


def test_infer_columns_maps_look_alikes_and_asks_when_ambiguous(write):
    path = write("qa.jsonl", [{"question": "Q", "answer": "A"}])
    with pytest.raises(DataError, match="data.infer_columns|Set data.prompt_column: question"):
        read_examples(path, CFG)
    assert qa(read_examples(path, replace(CFG, infer_columns=True))) == [("Q", "A")]
    both = write("both.jsonl", [{"question": "Q", "instruction": "I", "answer": "A"}])
    with pytest.raises(DataError, match=r"'question', 'instruction' could each be the prompt.*data.prompt_column"):
        read_examples(both, replace(CFG, infer_columns=True))


def test_two_shapes_at_once_ask_for_data_shape(write):
    rows = [{"prompt": "Q", "response": "A", "chosen": "A", "rejected": "B"}]
    with pytest.raises(
        DataError, match=r"fits two record shapes.*data.shape: prompt_response or data.shape: preference"
    ):
        read_examples(write("two.jsonl", rows), CFG)
    assert read_examples(write("two2.jsonl", rows), replace(CFG, shape="prompt_response"))[0].response == "A"
    assert read_preference_pairs(write("two3.jsonl", rows), CFG)[0].rejected == "B"


# ----- datasets libraries ------------------------------------------------------------------------------------
def test_hf_save_to_disk_and_local_file(tmp_path, write):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(ROWS).save_to_disk(str(folder))
    examples = read_examples(str(folder), CFG)
    assert qa(examples) == [("Hi?", "Arr, hi!"), ("2+2?", "4")] and examples[0].source == "saved:1"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:1])}).save_to_disk(str(tmp_path / "dd"))
    assert len(read_examples(str(tmp_path / "dd"), CFG)) == 1
    with pytest.raises(DataError, match="no split 'test'.*'train'"):
        read_examples(str(tmp_path / "dd"), replace(CFG, split="test"))
    cfg = replace(CFG, source="hf", data_dir=str(tmp_path / "cache"))
    assert len(read_examples(write("local.jsonl", ROWS), cfg)) == 2


def test_hf_hub_name_fails_fast_offline(monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(DataError, match="HF_HUB_OFFLINE is set.*save_to_disk"):
        read_examples("hf:someone/not-a-cached-dataset", CFG)
    assert time.monotonic() - start < 30


def test_tfds_tiny_builder(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")

    class TinyQa(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = tfds.features.FeaturesDict({"prompt": tfds.features.Text(), "response": tfds.features.Text()})
            return tfds.core.DatasetInfo(builder=self, features=features)

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            yield from enumerate(ROWS)

    TinyQa(data_dir=str(tmp_path)).download_and_prepare()
    examples = read_examples("tfds:tiny_qa", replace(CFG, data_dir=str(tmp_path)))
    assert sorted(qa(examples)) == [("2+2?", "4"), ("Hi?", "Arr, hi!")]
    with pytest.raises(DataError, match="Cannot load the TFDS dataset 'no_such_set'"):
        read_examples("tfds:no_such_set", replace(CFG, data_dir=str(tmp_path)))


# ----- streaming and config ----------------------------------------------------------------------------------
def test_jsonl_streams_with_bounded_memory(tmp_path):
    path = tmp_path / "big.jsonl"
    row = json.dumps({"prompt": "What is the capital of France? " * 4, "response": "Paris. " * 20}) + "\n"
    with path.open("w") as f:
        f.writelines([row] * 20000)  # ~6 MB
    problems = []
    tracemalloc.start()
    count = sum(1 for _ in iter_examples(str(path), CFG, problems))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 20000 and not problems
    assert peak < 2_000_000, f"peak {peak} bytes: reading should not hold the file"


STREAMED_JSON = {
    "array.json": json.dumps(ROWS, indent=1),
    "one_line.json": json.dumps(ROWS * 3),
    "nested.json": json.dumps([{"messages": [{"role": "user", "content": "Hi"}, {"role": "model", "content": "Arr"}]}]),
    "floats.json": json.dumps([{"text": "good", "label": 1.5}, {"text": "bad", "label": 0}]),
    "columns.json": json.dumps({"prompt": ["Hi?", "2+2?"], "response": ["Arr, hi!", "4"]}),
    "wrapped.json": json.dumps({"data": ROWS}, indent=2),
    "one_object.json": json.dumps(ROWS[0]),
    "empty_array.json": "[]",
    "lines.json": "".join(json.dumps(r) + "\n" for r in ROWS),  # JSON Lines named .json
    "arrays.jsonl": "[1]\n[2]\n",
    "truncated.json": '[\n {"prompt": "a", "response": "b"},\n {"prompt": "c", "resp',
    "trailing_comma.json": '[\n {"prompt": "a", "response": "b"},\n]\n',
    "missing_comma.json": '[\n {"prompt": "a", "response": "b"}\n {"prompt": "c", "response": "d"}\n]',
    "not_objects.json": '[{"prompt": "a", "response": "b"},\n 3]',
    "unequal_columns.json": '{"prompt": ["a", "b"], "response": ["c"]}',
    "bad_object.json": '{"prompt": ["a"],\n "response": ["b" "c"]}',
    "binary.json": '[{"prompt": "a",\n "response": "b\x00"}]',
}


@pytest.mark.parametrize("name", list(STREAMED_JSON))
def test_big_json_streams_with_the_records_and_places_of_whole_parsing(name, write, monkeypatch):
    """Above STREAM_JSON_BYTES, JSON goes through ijson: the same records, numbered the same, and
    problems on the same lines (the column is named by whole parsing only)."""
    path = write(name, STREAMED_JSON[name])

    def read():
        src, _, items = stream_items(path, CFG)
        converted = [(item.location.line, item.location.row, item.record, item.item) for item in items]
        return src, converted, [(p.location.line, p.location.row, p.code) for p in src.problems]

    whole_src, whole, whole_problems = read()
    if name == "binary.json":  # whole parsing also reports the JSON it cut short at the zero byte
        whole_problems = whole_problems[:1]
    monkeypatch.setattr(json_readers, "STREAM_JSON_BYTES", 0)
    streamed_src, streamed, streamed_problems = read()
    assert streamed == whole and streamed_problems == whole_problems
    assert (streamed_src.unit, streamed_src.columns) == (whole_src.unit, whole_src.columns)
    for whole_p, streamed_p in zip(whole_src.problems, streamed_src.problems):
        assert streamed_p.where().split(", column")[0] == whole_p.where().split(", column")[0]


def test_big_json_array_is_read_with_bounded_memory(tmp_path):
    """A 50 MB JSON array (one line, as json.dump writes it) is read record by record."""
    path = tmp_path / "big.json"
    row = json.dumps({"prompt": "What is the capital of France? " * 4, "response": "Paris. " * 20})
    count = 50_000_000 // (len(row) + 2)
    with path.open("w") as f:
        f.write("[")
        for i in range(count):
            f.write(row if i == 0 else ", " + row)
        f.write("]")
    assert path.stat().st_size > 49_000_000
    started = time.perf_counter()
    n, problems, grown = read_in_fresh_process(path)
    assert (n, problems) == (count, 0)
    assert grown < 10_000_000, f"peak RSS grew by {grown / 1e6:.1f} MB reading a 50 MB JSON array"
    assert time.perf_counter() - started < 30


def test_data_config_rules():
    cfg = JobConfig()
    assert validate(cfg) == []
    bad = replace(
        cfg,
        data=replace(cfg.data, delimiter=";;", encoding="klingon", shape="table", text_mode="regex", text_regex="(x"),
    )
    problems = "\n".join(validate(bad))
    assert "data.delimiter must be a single character" in problems
    assert "data.encoding 'klingon' is not a known text encoding" in problems
    assert "data.shape must be one of" in problems
    assert "data.text_regex is not a valid regular expression" in problems
