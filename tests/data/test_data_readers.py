from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import DataError, Example, Turn, detect_format, read_examples, split_examples

CFG = DataConfig()


def roles(example: Example) -> list[str]:
    return [t.role for t in example.turns]


# ----- round trips ------------------------------------------------------------------------------
def test_jsonl_prompt_response(write):
    path = write("qa.jsonl", '{"prompt": "Hi?", "response": "Arr, hi!"}\n\n{"prompt": "2+2?", "response": 4}\n')
    examples = read_examples(path, CFG)
    assert examples[0] == Example((Turn("user", "Hi?"), Turn("model", "Arr, hi!")), source="qa.jsonl:1")
    assert examples[1].response == "4" and examples[1].source == "qa.jsonl:3"


def test_jsonl_messages_multi_turn(write):
    messages = [
        {"role": "system", "content": "Be a pirate."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Arr!"},
        {"role": "user", "content": "Bye"},
        {"role": "model", "content": "Fair winds!"},
    ]
    [example] = read_examples(write("chat.jsonl", [{"messages": messages}]), CFG)
    assert roles(example) == ["system", "user", "model", "user", "model"]
    assert example.turns[2].text == "Arr!" and example.response == "Fair winds!"


def test_csv_with_quotes_and_line_breaks(write):
    text = 'prompt,response\n"Say, hi","Arr, ""hi""\nmatey"\nQ2,A2\n'
    examples = read_examples(write("qa.csv", text), CFG)
    assert [e.prompt for e in examples] == ["Say, hi", "Q2"]
    assert examples[0].response == 'Arr, "hi"\nmatey'
    assert examples[1].source == "qa.csv:4"


def test_tsv_and_custom_columns_with_system(write):
    cfg = DataConfig(prompt_column="question", response_column="answer", system_column="sys")
    path = write("qa.tsv", "question\tanswer\tsys\nWhy?\tBecause, arr.\tBe brief.\nHow?\tLike so.\t\n")
    first, second = read_examples(path, cfg)
    assert roles(first) == ["system", "user", "model"] and first.turns[0].text == "Be brief."
    assert roles(second) == ["user", "model"] and second.response == "Like so."


def test_csv_messages_column_and_json_array(write):
    chat = json.dumps([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Arr"}])
    csv_text = "messages\n" + '"' + chat.replace('"', '""') + '"\n'
    assert read_examples(write("chat.csv", csv_text), CFG)[0].response == "Arr"
    array = '[\n  {"prompt": "a", "response": "b"},\n  {"prompt": "c", "response": "d"}\n]\n'
    examples = read_examples(write("rows.json", array), CFG)
    assert [e.source for e in examples] == ["rows.json:2", "rows.json:3"]


def test_detect_format():
    assert detect_format("a.jsonl") == ("jsonl", ",")
    assert detect_format("a.JSON") == ("jsonl", ",")
    assert detect_format("a.csv") == ("csv", ",")
    assert detect_format("a.tsv") == ("csv", "\t")
    assert detect_format("a.txt", "csv") == ("csv", ",")
    with pytest.raises(DataError, match="data.format"):
        detect_format("a.txt")


def test_reading_never_modifies_the_file(write):
    path = write("qa.csv", "prompt,response\nQ,A\n")
    before = Path(path).read_bytes()
    read_examples(path, CFG)
    assert Path(path).read_bytes() == before


# ----- problems a user can cause --------------------------------------------------------------------
def error_for(path: str, cfg: DataConfig = CFG) -> str:
    with pytest.raises(DataError) as info:
        read_examples(path, cfg)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_missing_file(tmp_path):
    message = error_for(str(tmp_path / "nope.jsonl"))
    assert "not found" in message and "nope.jsonl" in message


def test_empty_file(write):
    assert "is empty" in error_for(write("empty.jsonl", "\n  \n"))
    assert "no examples" in error_for(write("header.csv", "prompt,response\n"))


def test_invalid_json_names_line_and_column(write):
    path = write("bad.jsonl", '{"prompt": "a", "response": "b"}\n\n{"prompt": "a" "response": "b"}\n')
    message = error_for(path)
    assert "bad.jsonl" in message and "line 3, column 16" in message
    assert "not valid JSON" in message and "one JSON object" in message


def test_non_object_line(write):
    assert "line 1, column 1: expected a JSON object but found a list" in error_for(write("x.jsonl", "[1]\n[2]\n"))


def test_missing_columns_lists_columns_and_suggests(write):
    rows = [{"question": "q", "answer": "a"}] * 3
    message = error_for(write("qa.jsonl", rows))
    assert "lines 1, 2, 3" in message and "No 'prompt' column" in message and "No 'response' column" in message
    assert "'question', 'answer'" in message
    assert "Did you mean 'question'? Set data.prompt_column: question" in message
    assert "Did you mean 'answer'? Set data.response_column: answer" in message


def test_csv_missing_column_reports_header_once(write):
    message = error_for(write("qa.csv", "prompt,respnse\nq,a\nq,a\n"))
    assert message.startswith("Problem in") and "line 1 (the header)" in message
    assert "Did you mean 'respnse'?" in message


def test_empty_response_names_row(write):
    rows = [{"prompt": "q", "response": "a"}, {"prompt": "q2", "response": "  "}]
    message = error_for(write("qa.jsonl", rows))
    assert "line 2, column 'response': the response is empty" in message and "Fill it in" in message
    assert "line 1, column 'prompt': the prompt is empty" in error_for(
        write("null.jsonl", [{"prompt": None, "response": "a"}])
    )
    message = error_for(write("qa.csv", "prompt,response\n,answer\n"))
    assert "line 2, column 'prompt': the prompt is empty" in message


def test_bad_conversations(write):
    rows = [
        {"messages": [{"role": "user", "content": "hi"}]},
        {"messages": [{"role": "pirate", "content": "hi"}, {"role": "assistant", "content": "arr"}]},
        {"messages": [{"role": "assistant", "content": "arr"}]},
        {"messages": "not a list"},
    ]
    message = error_for(write("chat.jsonl", rows))
    assert "line 1, column 'messages': the conversation does not end with an assistant message" in message
    assert "line 2, column 'messages', message 1: unknown role 'pirate'" in message
    assert "line 3, column 'messages', message 1: a assistant message cannot come here" in message
    assert "line 4, column 'messages': the messages are not valid JSON" in message


def test_problems_are_listed_in_line_order(write):
    text = '{"prompt": "", "response": "a"}\n{bad\n{"prompt": "q", "response": ""}\n'
    with pytest.raises(DataError) as info:
        read_examples(write("mixed.jsonl", text), CFG)
    assert [p.split(",")[0] for p in info.value.problems] == ["line 1", "line 2", "line 3"]
    assert info.value.path.endswith("mixed.jsonl")


def test_many_problems_are_collected_and_capped(write):
    text = "".join("{oops\n" for _ in range(25))
    message = error_for(write("bad.jsonl", text))
    assert message.startswith("Found 25 problems in")
    assert "line 20," in message and "line 21," not in message and "and 5 more" in message


def test_not_utf8_and_ragged_csv(write, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"prompt,response\nq,caf\xe9\n")
    assert "line 2, column 6: the file is not UTF-8" in error_for(str(path))
    message = error_for(write("ragged.csv", "prompt,response\nq,a,extra\n"))
    assert "line 2, column 3: this row has 3 values" in message and "double quotes" in message


@pytest.mark.parametrize(
    "name, data, garbled",
    [
        ("latin.csv", b'prompt,response\nq1,caf\xe9\nq2,"two\nline\xe9s"\nq3,fine\n"q\xe94",x\n', ["2", "3", "q4"]),
        ("latin.jsonl", b'{"prompt": "q1", "response": "ok"}\n{"prompt": "q\xe92", "response": "x"}\n', ["q2"]),
    ],
)
def test_a_row_whose_bytes_do_not_decode_never_becomes_an_example(tmp_path, name, data, garbled):
    """Reported at its line, and kept out of the rows "skip invalid rows" trains on, a cell continued on
    an undecodable line included; the rows around it stay, and the right encoding reads them all."""
    from gemma_jax.data import build_report

    path = tmp_path / name
    path.write_bytes(data)
    report = build_report(str(path), CFG)
    assert {p.code for p in report.errors} == {"encoding"}
    kept, dropped = report.clean_examples()
    assert all("\ufffd" not in e.prompt + e.response for e in kept)
    assert report.usable == len(kept) == report.records - len(garbled) and len(dropped) == len(garbled)
    assert report.records == len(build_report(str(path), DataConfig(encoding="latin-1")).examples)


def test_missing_system_column(write):
    cfg = DataConfig(system_column="system")
    message = error_for(write("qa.jsonl", [{"prompt": "q", "response": "a"}]), cfg)
    assert "No 'system' column" in message and "data.system_column" in message


# ----- split ------------------------------------------------------------------------------------------
def test_split_is_deterministic_and_disjoint():
    items = list(range(100))
    train, val = split_examples(items, 0.1, seed=3)
    assert len(val) == 10 and sorted(train + val) == items and not set(train) & set(val)
    assert split_examples(items, 0.1, seed=3) == (train, val)
    assert split_examples(items, 0.1, seed=4)[1] != val
    assert train == sorted(train) and val == sorted(val)  # file order kept
    assert split_examples(items, 0.0, seed=3) == (items, [])
    assert len(split_examples(items[:3], 0.1, seed=0)[1]) == 1
    with pytest.raises(DataError, match="validation_fraction"):
        split_examples(items, 1.0, seed=0)
