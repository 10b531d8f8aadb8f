"""Evaluate state: the job's command, reports of both formats listed and shown (cards, per-example rows,
hardest first, a confusion cell, one example's tokens), clear refusals, and a real evaluation subprocess.

The crafted reports here (`text_report`, `classification_report`, `write_report`) are what
gemma_jax.evaluate writes; the view and browser tests use them too."""

import json
import math
import shutil
import sys
from pathlib import Path

import panel as pn
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run, untrained_run
from ui_helpers import make_session

from ui.state.evaluate import EvaluateState
from ui.views.evaluate import EvaluatePage

FILES = ("report.json", "predictions.jsonl")  # what an evaluation writes, offered for download

OLD_REPORT = {  # eval/step-N-SPLIT.json, before report.json + predictions.jsonl
    "step": 4,
    "split": "validation",
    "eval_loss": 1.5,
    "perplexity": 4.48,
    "tokens": 1200,
    "base_eval_loss": 2.5,
    "base_perplexity": 12.18,
    "examples": [
        {
            "prompt": "Hi?",
            "reference": "Ahoy!",
            "base_answer": "Hello",
            "tuned_answer": "Ahoy",
            "loss": 1.2,
            "base_loss": 2.9,
        }
    ],
}


def tokens(*pieces: tuple[str, float]) -> list[dict]:
    return [
        {
            "piece": piece,
            "log_prob": math.log(p),
            "top": [[piece, math.log(p)], ["▁other", math.log(max(1 - p, 1e-6) / 2)]],
        }
        for piece, p in pieces
    ]


def text_report(step: int = 5, **changes) -> tuple[dict, list[dict]]:
    """A format-2 report of a generation task (loss, rougeL, a custom metric that failed), interrupted
    after 3 of 4 examples, with a sweep; and its predictions rows."""
    report = {
        "format": 2,
        "step": step,
        "split": "validation",
        "partial": True,
        "total_examples": 4,
        "examples": 3,
        "data_hash": "sha256:0123456789abcdef",
        "tokens": 96,
        "settings": {"temperature": 0.0, "top_p": None, "top_k": None, "seed": 0, "max_new_tokens": 24},
        "metrics": ["loss", "perplexity", "rougeL"],
        "tuned": {"loss": 1.25, "perplexity": 3.49, "rougeL": 0.61},
        "base": {"loss": 2.0, "perplexity": 7.39, "rougeL": 0.42},
        "delta": {"loss": -0.75, "perplexity": -3.9, "rougeL": 0.19},
        "interval": {"loss": [-0.9, -0.6], "perplexity": None, "rougeL": [-0.05, 0.4]},
        "custom_errors": {"my_metrics:broken": "ZeroDivisionError: division by zero"},
        "hardest": {"highest_loss": [2, 0], "loss_regressions": [2], "score_regressions": [1]},
        "sweep": [
            {"temperature": 0.0, "top_p": 1.0, "metric": "rougeL", "value": 0.6},
            {"temperature": 0.7, "top_p": 1.0, "metric": "rougeL", "value": 0.5},
            {"temperature": 0.7, "top_p": 0.9, "metric": "rougeL", "value": 0.55},
        ],
        "eval_loss": 1.25,
        "perplexity": 3.49,
        "base_eval_loss": 2.0,
        "base_perplexity": 7.39,
        **changes,
    }
    rows = []
    for index, (prompt, reference, tuned, base, loss, base_loss, score, base_score) in enumerate(
        [
            ("Say hi", "Ahoy ✓", "Ahoy", "Hello", 0.8, 2.1, 0.67, 0.0),
            ("Say bye", "Farewell", "Bye", "Farewell", 1.1, 1.9, 0.0, 1.0),
            ("Count", "one two", "three", "one", 2.4, 1.5, 0.0, 0.67),
        ]
    ):
        rows.append(
            {
                "index": index,
                "prompt": prompt,
                "reference": reference,
                "tuned": tuned,
                "base": base,
                "tuned_loss": loss,
                "base_loss": base_loss,
                "tuned_scores": {"rougeL": score},
                "base_scores": {"rougeL": base_score},
                "tuned_tokens": tokens(
                    ("▁Ah", 0.9), ("oy", 0.5), ("▁", 0.4), ("<0xE2>", 0.5), ("<0x9C>", 1.0), ("<0x93>", 1.0)
                ),
                "base_tokens": tokens(("▁Ah", 0.1), ("oy", 0.2)),
            }
        )
    return report, rows


CLASSES = ["negative", "neutral", "positive"]
PREDICTED = [  # (reference, tuned label, base label)
    ("positive", "positive", "neutral"),
    ("positive", "negative", "positive"),
    ("negative", "negative", "(other)"),
    ("neutral", "positive", "neutral"),
    ("positive", "negative", "negative"),
]


def classification_report(step: int = 3) -> tuple[dict, list[dict]]:
    """A sentiment-classification report: confusion matrices of both models and the rows' labels."""

    def matrix(column: int) -> dict:
        labels = [*CLASSES, "(other)"] if any(p[column] == "(other)" for p in PREDICTED) else list(CLASSES)
        counts = [[sum(1 for p in PREDICTED if p[0] == r and p[column] == c) for c in labels] for r in CLASSES]
        correct = sum(1 for p in PREDICTED if p[0] == p[column])
        return {
            "accuracy": correct / len(PREDICTED),
            "macro_f1": 0.5,
            "per_class": {},
            "labels": labels,
            "confusion": counts,
        }

    report = {
        "format": 2,
        "step": step,
        "split": "validation",
        "partial": False,
        "total_examples": len(PREDICTED),
        "examples": len(PREDICTED),
        "data_hash": "sha256:feedfacefeedface",
        "tokens": 40,
        "settings": {"temperature": 0.0, "max_new_tokens": 8},
        "metrics": ["loss", "accuracy", "macro_f1"],
        "tuned": {"loss": 0.9, "accuracy": 0.4, "macro_f1": 0.5},
        "base": {"loss": 1.4, "accuracy": 0.4, "macro_f1": 0.45},
        "delta": {"loss": -0.5, "accuracy": 0.0, "macro_f1": 0.05},
        "interval": {"loss": [-0.7, -0.3], "accuracy": [-0.4, 0.4], "macro_f1": [-0.3, 0.4]},
        "custom_errors": {},
        "hardest": {"highest_loss": [4, 1], "loss_regressions": [], "score_regressions": []},
        "classification": {"tuned": matrix(1), "base": matrix(2)},
    }
    rows = [
        {
            "index": index,
            "prompt": f"Review {index}: how does it feel?",
            "reference": reference,
            "tuned": tuned,
            "base": base,
            "tuned_loss": 0.5 + index / 10,
            "base_loss": 1.0 + index / 10,
            "tuned_scores": {"label": tuned},
            "base_scores": {"label": base},
            "tuned_tokens": tokens((f"▁{reference}", 0.7)),
            "base_tokens": tokens((f"▁{reference}", 0.3)),
        }
        for index, (reference, tuned, base) in enumerate(PREDICTED)
    ]
    return report, rows


def write_report(run_dir: Path, report: dict, rows: list[dict]) -> Path:
    """report.json and predictions.jsonl in RUN_DIR/eval/step-N-SPLIT/, as gemma_jax.evaluate writes them."""
    folder = Path(run_dir) / "eval" / f"step-{report['step']}-{report['split']}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return folder / "report.json"


def test_the_command_follows_the_controls(tmp_path):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    state = EvaluateState(session)
    assert state._options() == ["--split", "validation"]  # the whole split, metrics by the data, greedy
    state.param.update(split="test", max_examples=50, metrics=["rougeL", "chrf"], temperature=0.7, sweep=True)
    assert state._options() == [
        *("--split", "test", "--max-examples", "50", "--metrics", "rougeL,chrf", "--temperature", "0.7"),
        "--sweep",
    ]
    assert state._result_path(run_dir, 3) == run_dir / "eval" / "step-3-test" / "report.json"


def test_older_reports_are_listed_and_shown(tmp_path):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    (run_dir / "eval").mkdir(exist_ok=True)
    (run_dir / "eval" / "step-4-validation.json").write_text(json.dumps(OLD_REPORT))
    (run_dir / "eval" / "step-2-test.json").write_text(json.dumps({**OLD_REPORT, "step": 2, "split": "test"}))
    state = EvaluateState(session)
    assert [(r["step"], r["split"]) for r in state.reports] == [(4, "validation"), (2, "test")]
    assert state.report["step"] == 4 and ("Examples", "1") in state.kpis()
    cards = {card["name"]: card for card in state.cards()}
    assert cards["loss"]["tuned"] == "1.5000" and cards["loss"]["delta"] == "-1.0000"
    assert cards["loss"]["verdict"] == "better" and cards["perplexity"]["base"] == "12.18"
    assert state.table_columns() == [
        "#",
        "loss",
        "base loss",
        "prompt",
        "reference",
        "fine-tuned answer",
        "base answer",
    ]
    assert state.example_rows() == [
        {
            "#": 0,
            "loss": 1.2,
            "base loss": 2.9,
            "prompt": "Hi?",
            "reference": "Ahoy!",
            "fine-tuned answer": "Ahoy",
            "base answer": "Hello",
        }
    ]
    state.select(0)
    assert state.selected_row()["tuned_tokens"] == [] and state.predictions_file is None
    state.show(state.reports[1]["path"])
    assert state.report["split"] == "test" and state.selected is None
    page = EvaluatePage(session, state)
    assert isinstance(page.__panel__(), pn.Column) and page.table.visible and not page.empty.visible
    assert not state.run_evaluation() and "has no checkpoint yet" in state.error  # the run never saved one


def test_a_report_shows_cards_rows_the_hardest_first_and_tokens(tmp_path):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    path = write_report(run_dir, *text_report())
    (run_dir / "eval" / "step-4-validation.json").write_text(json.dumps(OLD_REPORT))  # an older one beside it
    state = EvaluateState(session)
    assert next(r["path"] for r in state.reports) == str(path) and len(state.reports) == 2
    assert state.partial and state.custom_errors == {"my_metrics:broken": "ZeroDivisionError: division by zero"}
    assert ("Examples", "3 of 4") in state.kpis() and (
        "Answers",
        "greedy decoding, at most 24 new tokens",
    ) in state.kpis()
    cards = {card["name"]: card for card in state.cards()}
    assert list(cards) == ["loss", "perplexity", "rougeL"]
    assert cards["loss"] == {
        "name": "loss",
        "tuned": "1.2500",
        "base": "2.0000",
        "delta": "-0.7500",
        "verdict": "better",  # lower is better
        "interval": "95% CI [-0.9000, -0.6000]",
        "sure": True,
        "direction": -1,
        "sign": -1,
        "about": "",
    }
    assert (
        cards["rougeL"]["verdict"] == "better" and not cards["rougeL"]["sure"] and cards["perplexity"]["interval"] == ""
    )
    assert state.metric == "rougeL"
    assert state.table_columns()[:5] == ["#", "loss", "base loss", "rougeL", "base rougeL"]
    assert [r["#"] for r in state.example_rows()] == [0, 1, 2]
    first = state.example_rows()[0]
    assert (first["fine-tuned answer"], first["base answer"], first["rougeL"], first["base rougeL"]) == (
        "Ahoy",
        "Hello",
        0.67,
        0.0,
    )
    state.order = "Highest loss first"
    assert [r["#"] for r in state.example_rows()] == [2, 0, 1] and "2 examples" in state.hardest_note
    state.order = "Score regressions first"
    assert next(r["#"] for r in state.example_rows()) == 1
    state.select(0)
    assert state.selected_row()["tuned_tokens"][0]["piece"] == "▁Ah"
    assert state.sweep_series() == {1.0: [(0.0, 0.6), (0.7, 0.5)], 0.9: [(0.7, 0.55)]}
    assert state.predictions_file == path.parent / "predictions.jsonl"
    assert state.compare.runs == ["fresh"] and [r["step"] for r in state.compare.rows] == [5, 4]


def test_a_confusion_cell_narrows_the_table(tmp_path):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    write_report(run_dir, *classification_report())
    state = EvaluateState(session)
    assert state.metric is None and state.labelled
    assert state.table_columns()[:5] == ["#", "loss", "base loss", "label", "base label"]
    matrix = state.confusion()
    assert matrix["labels"] == CLASSES and matrix["matrix"][2] == [2, 0, 1]  # positive: 2 as negative, 1 right
    state.pick_cell("positive", "negative")
    assert [r["#"] for r in state.example_rows()] == [1, 4]
    assert "2 examples whose reference is “positive”" in state.cell_note and "fine-tuned" in state.cell_note
    state.matrix_model = "base"
    assert state.confusion()["labels"][-1] == "(other)"
    state.pick_cell("negative", "(other)")
    assert [r["#"] for r in state.example_rows()] == [2]
    state.clear_cell()
    assert len(state.example_rows()) == 5 and state.cell_note == ""


def test_an_empty_workspace_says_what_to_do(tmp_path):
    session = make_session(tmp_path)
    state = EvaluateState(session)
    assert state.reports == [] and state.kpis() == [] and state.example_rows() == [] and state.cards() == []
    assert not state.run_evaluation() and "New run" in state.error
    assert isinstance(EvaluatePage(session).__panel__(), pn.Column)


@pytest.mark.slow  # two evaluation processes on a trained tiny run: about a minute
def test_a_real_evaluation_runs_in_a_subprocess_and_failures_are_explained(tmp_path_factory, tmp_path):
    session = make_session(tmp_path)
    run_dir = tiny_run(tmp_path_factory, runs_dir=session.workspace.runs_dir)
    state = EvaluateState(session)
    state.max_examples = 2
    assert state.run_evaluation() and state.running
    assert not state.run_evaluation()  # one at a time
    state.wait(300)
    assert not state.running and not state.error, state.error
    assert state.report["step"] == 3 and state.report["examples"] == 2
    assert state.report["path"] == str(run_dir / "eval" / "step-3-validation" / "report.json")
    assert len(state.rows) == 2 and state.rows[0]["tuned_tokens"] and "loss" in {c["name"] for c in state.cards()}
    attention = state.attention  # the maps the evaluation saved for its hardest examples
    assert attention.note == "" and attention.shown and set(attention.examples) <= {0, 1} and attention.examples
    assert attention.models == ["tuned", "base"] and attention.weights().shape == (len(attention.pieces),) * 2
    assert [link["name"] for link in state.downloads()] == list(FILES)
    assert session.notifications[-1][1] == "success"

    state.picker.checkpoint = "2"
    shutil.rmtree(run_dir / "checkpoints" / "2")  # gone between picking and running
    assert state.run_evaluation()
    state.wait(300)
    assert not state.running and "no checkpoint at step 2; it has [3]" in state.error


def test_only_the_splits_a_run_has_are_offered(tmp_path):
    """A run without a test file or test fraction offers no "test" split (it would fail after loading)."""
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    state = EvaluateState(session)
    assert state.param.split.objects == ["validation", "test"]
    state.split = "test"
    config = (run_dir / "config.yaml").read_text()
    (run_dir / "config.yaml").write_text(config.replace("test_fraction: 0.1", "test_fraction: 0.0"))
    state._load()
    assert state.param.split.objects == ["validation"] and state.split == "validation"
