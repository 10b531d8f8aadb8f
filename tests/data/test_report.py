"""The validation report: what it finds, where, how rows are dropped, and the `data check` command."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gemma_jax.cli import main
from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import checks
from gemma_jax.data.checks import build_report, quality_of
from gemma_jax.data.example import Example

CFG = DataConfig()


def test_clean_file_is_ok(write):
    report = build_report(write("qa.jsonl", [{"prompt": "Hi there?", "response": "Arr, hello matey!"}]), CFG)
    assert report.ok and not report.problems and report.shape == "prompt_response"
    assert report.columns == {"prompt": "prompt", "response": "response"}
    assert report.quality[0].score == 1.0 and report.quality[0].reasons == ()


def test_duplicates_empty_values_and_errors_name_rows(write):
    rows = [
        {"prompt": "Q1?", "response": "Answer one."},
        {"prompt": "Q1?", "response": "Answer one."},
        {"prompt": "", "response": "Answer three."},
        {"prompt": "Q4?", "response": "Answer four.", "extra": 1},
    ]
    report = build_report(write("qa.jsonl", rows), CFG)
    assert not report.ok and report.records == 4 and len(report.examples) == 3
    [error] = report.errors
    assert error.text() == "line 3, column 'prompt': the prompt is empty. Fill it in or delete the row."
    assert report.duplicates == 1 and report.empty_values == {"prompt": 1}
    codes = {(p.code, p.location.line) for p in report.warnings}
    assert ("duplicate", 2) in codes and ("columns", 4) in codes
    assert "repeats line 1" in next(p.message for p in report.warnings if p.code == "duplicate")
    kept, dropped = report.clean_examples(drop=("duplicate",))
    assert [e.source for e in kept] == ["qa.jsonl:1", "qa.jsonl:4"]
    assert [(d.location.line, d.reasons[0].split(":")[0]) for d in dropped] == [
        (2, "line 2"),
        (3, "line 3, column 'prompt'"),
    ]
    kept, dropped = report.clean_examples(drop=())
    assert len(kept) == 3 and len(dropped) == 1


def test_too_long_examples_with_tokenizer_and_estimate(write, tokenizer):
    rows = [{"prompt": "Hello there", "response": "word " * 200}, {"prompt": "Hi", "response": "Arr"}]
    path = write("long.jsonl", rows)
    exact = build_report(path, replace(CFG, sequence_length=32), tokenizer=tokenizer)
    assert exact.too_long == 1 and exact.tokens_cut > 100 and not exact.tokens_estimated
    [warning] = [p for p in exact.warnings if p.code == "too_long"]
    assert warning.location.line == 1 and f"{exact.tokens_cut} token(s) are cut" in warning.message
    estimate = build_report(path, CFG, sequence_length=32)
    assert estimate.too_long == 1 and estimate.tokens_estimated and "about" in estimate.warnings[0].message
    kept, dropped = exact.clean_examples(drop=("too_long",))
    assert [e.source for e in kept] == ["long.jsonl:2"] and dropped[0].location.line == 1


def test_label_balance(write):
    rows = [{"text": f"review {i}", "label": "pos"} for i in range(30)] + [{"text": "meh", "label": "neg"}]
    report = build_report(write("cls.csv", "text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows)), CFG)
    assert report.shape == "classification" and report.label_counts == {"pos": 30, "neg": 1}
    [balance] = [p for p in report.warnings if p.code == "balance"]
    assert "'neg' has only 1 row(s) against 30 for 'pos'" in balance.message and balance.location.column == "label"


def test_quality_scores_and_reasons():
    good = Example.from_prompt_response("What is the capital of France?", "Paris is the capital of France.")
    assert quality_of(good) == (1.0, [])
    score, reasons = quality_of(Example.from_prompt_response("<b>Hi</b> <start_of_turn>", "ok"))
    assert score < 0.6
    assert {"contains HTML markup", "the reply is very short (2 characters)"} <= set(reasons)
    assert any("control tokens" in r for r in reasons)
    score, reasons = quality_of(Example.from_prompt_response("caf\ufffd", "caf\ufffd"))
    assert "the reply repeats the prompt" in reasons and any("U+FFFD" in r for r in reasons)


def test_low_quality_drop_and_json(write):
    rows = [{"prompt": "Same text here", "response": "Same text here"}, {"prompt": "Q?", "response": "A fine answer."}]
    report = build_report(write("q.jsonl", rows), CFG)
    assert report.ok and report.quality[0].score < 1.0
    kept, dropped = report.clean_examples(drop=("low_quality",), min_quality=0.9)
    assert [e.source for e in kept] == ["q.jsonl:2"] and "repeats the prompt" in dropped[0].reasons[0]
    data = json.loads(report.to_json())
    assert data["ok"] and data["examples"] == 2 and data["low_quality"][0]["line"] == 1


def test_preference_report(write):
    rows = [
        {"prompt": "Q", "chosen": "Good answer.", "rejected": "Good answer."},
        {"prompt": "Q", "chosen": "A.", "rejected": "B."},
    ]
    report = build_report(write("pairs.jsonl", rows), CFG)
    assert report.shape == "preference" and len(report.examples) == 1
    assert report.errors[0].location.line == 1 and report.errors[0].location.column == "rejected"


def test_cli_data_check(write, capsys):
    good = write("good.csv", "question,answer\nHi?,Arr matey!\n")
    assert main(["data", "check", good, "--prompt-column", "question", "--response-column", "answer"]) == 0
    out = capsys.readouterr().out
    assert "good.csv: OK" in out and "prompt='question'" in out
    assert main(["data", "check", good, "--infer-columns", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["columns"] == {"prompt": "question", "response": "answer"}
    bad = write("bad.csv", "question,answer\nHi?,Arr\n")
    assert main(["data", "check", bad]) == 1
    out = capsys.readouterr().out
    assert "1 error(s)" in out and "ERROR" in out and "line 1 (the header)" in out
    semi = write("semi.csv", "prompt;response\nq;a\n")
    assert main(["data", "check", semi, "--delimiter", ";"]) == 0
    capsys.readouterr()
    text = write("t.txt", "one\ntwo\n")
    assert main(["data", "check", text, "--format", "text", "--sequence-length", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shape"] == "text"
    assert main(["data", "check", write("x.dat", "a")]) == 1
    assert "data.format" in capsys.readouterr().out


def test_streaming_report_keeps_counts_and_lists_a_bounded_number_of_findings(write, monkeypatch):
    monkeypatch.setattr(checks, "LISTED_PER_CODE", 5)
    rows = [{"prompt": f"Question {i % 40}?", "response": f"Answer {i % 40}, matey."} for i in range(200)]
    rows.append({"prompt": "<b>Hi</b>", "response": "ok"})  # a low-quality row
    path = write("many.jsonl", rows)
    full = build_report(path, CFG)
    streamed = build_report(path, CFG, keep_examples=False)
    assert streamed.examples == [] and streamed.usable == full.usable == 201
    assert streamed.duplicates == full.duplicates == 160
    assert streamed.quality_total == pytest.approx(full.quality_total)
    assert streamed.low_quality == full.low_quality
    assert len([p for p in streamed.problems if p.code == "duplicate"]) == 5
    assert streamed.omitted_problems == 155
    assert "line 41" in streamed.problems[0].text() and "line 1" in streamed.problems[0].message
    assert "155 more finding(s)" in streamed.to_text()
    assert streamed.to_dict()["mean_quality"] == full.to_dict()["mean_quality"]


def test_streaming_report_caps_reader_problems_per_line_but_counts_them_all(write, monkeypatch):
    """A file with thousands of bad lines: the reader keeps LISTED_PER_CODE of each kind, counts the rest."""
    from gemma_jax.data.readers import stream_items

    monkeypatch.setattr(checks, "LISTED_PER_CODE", 5)
    good = json.dumps({"prompt": "Hi?", "response": "Arr."})
    empty = json.dumps({"prompt": "", "response": "Arr."})
    lines = [good] + ["{not json"] * 3000 + [empty] * 2000 + [good.replace("Hi", "Ho")]
    path = write("bad.jsonl", "\n".join(lines) + "\n")

    src, _, items = stream_items(path, CFG, listed_per_code=5)
    assert sum(1 for item in items if item.item is not None) == 2
    assert src.found == {"format": 3000, "empty": 2000}
    assert len(src.problems) == 10 and src.omitted == 4990
    assert [p.location.line for p in src.problems if p.code == "format"] == [2, 3, 4, 5, 6]  # the first ones

    streamed = build_report(path, CFG, keep_examples=False)
    assert not streamed.ok and streamed.usable == 2 and streamed.records == 2002  # parsed records
    assert len([p for p in streamed.problems if p.code == "format"]) == 5
    assert len([p for p in streamed.problems if p.code == "empty"]) == 5
    assert streamed.omitted_problems == 4990
    assert "4990 more finding(s)" in streamed.to_text()
    full = build_report(path, CFG)  # the default report lists every one
    assert len(full.errors) == 5000 and full.omitted_problems == 0

    lacking = write("lacking.jsonl", [{"prompt": "Hi?", "response": "Arr."}] + [{"question": "Q?"}] * 3000)
    streamed = build_report(lacking, CFG, keep_examples=False)  # rows without the columns: one finding
    [missing] = streamed.errors
    assert missing.code == "columns" and missing.lines == (2, 3, 4, 5, 6)
    assert streamed.omitted_problems == 2 * 2995  # and the same rows' column-consistency warning
    assert len(build_report(lacking, CFG).errors[0].lines) == 3000
