"""Report files without JAX: the new folder layout and the older single-file reports are both listed,
predictions are read back (a line cut by a crash skipped), and the report builder's numbers on crafted
answers: classification gets its confusion matrix, an interrupted base pass leaves the tuned model's
metrics, the hardest examples come first."""

import json

from gemma_jax.evaluate import read_predictions, read_reports, report_dir
from gemma_jax.evaluate.compare import comparison_rows, comparison_table
from gemma_jax.evaluate.report_builder import ModelAnswers, build_report


def test_old_and_new_reports_are_listed_and_predictions_read(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "step-2-validation.json").write_text(
        json.dumps(
            {"step": 2, "split": "validation", "eval_loss": 1.5, "base_eval_loss": 2.0, "examples": [{"prompt": "p"}]}
        )
    )
    folder = report_dir(tmp_path, 4, "validation")
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(
        json.dumps({"step": 4, "split": "validation", "examples": 2, "tuned": {"loss": 1.0}, "base": {"loss": 2.0}})
    )
    (folder / "predictions.jsonl").write_text('{"index": 0}\n{"index": 1}\n{"index": 2, "cut')
    (tmp_path / "eval" / "step-5-test").mkdir()  # a folder whose report is not written yet
    reports = read_reports(tmp_path)
    assert [(r["step"], r["split"]) for r in reports] == [(4, "validation"), (2, "validation")]
    assert read_predictions(reports[0]) == [{"index": 0}, {"index": 1}]
    assert read_predictions(reports[1]) == [{"prompt": "p"}]
    rows = comparison_rows([str(tmp_path)])
    assert rows[0]["delta"] == {"loss": -1.0} and rows[1]["tuned"]["loss"] == 1.5
    table = comparison_table(rows)
    assert "loss" in table.splitlines()[0] and "1 (-1)" in table


def test_classification_report_and_an_interrupted_base_pass():
    references = ["positive", "negative", "positive", "negative"]
    examples = [{"prompt": f"review {i}"} for i in range(4)]
    tuned = ModelAnswers(["positive", "negative", "negative", "negative"], [0.1, 0.2, 2.0, 0.3])
    base = ModelAnswers(["positive", "positive", "positive", "positive"], [1.0, 1.0, 1.0, 1.0])
    metrics = ("loss", "accuracy", "macro_f1")
    summary, rows = build_report(
        metrics, references, examples, {"tuned": tuned, "base": base}, {"tuned": 0.6, "base": 1.0}
    )
    assert summary["tuned"]["accuracy"] == 0.75 and summary["base"]["accuracy"] == 0.5
    assert summary["delta"]["accuracy"] == 0.25 and summary["delta"]["loss"] == -0.4
    assert summary["classification"]["tuned"]["confusion"] == [[2, 0], [1, 1]]  # rows: negative, positive
    assert [row["tuned_scores"]["label"] for row in rows] == ["positive", "negative", "negative", "negative"]
    assert summary["hardest"]["highest_loss"][0] == 2 and summary["hardest"]["loss_regressions"] == [2]

    cut = ModelAnswers([None] * 4, [None] * 4)
    summary, rows = build_report(metrics, references, examples, {"tuned": tuned, "base": cut}, {"tuned": 0.6})
    assert summary["tuned"]["accuracy"] == 0.75 and summary["base"] == {} and summary["delta"] == {}
    assert len(rows) == 4 and rows[0]["base"] is None
