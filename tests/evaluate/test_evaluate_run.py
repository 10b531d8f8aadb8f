"""`gemma-jax evaluate`: the whole split answered in batches by both models, task metrics with
intervals, report.json + predictions.jsonl, the loss training logs, Ctrl-C, custom metrics, --compare."""

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run, untrained_run

from gemma_jax.cli import main as cli_main
from gemma_jax.evaluate import read_predictions, read_reports
from gemma_jax.evaluate.__main__ import main as evaluate_main
from gemma_jax.evaluate.answers import answer_prompts
from gemma_jax.evaluate.evaluation import evaluate_run
from gemma_jax.evaluate.run_checkpoint import load_run_checkpoint
from gemma_jax.evaluate.settings import EvalSettings
from gemma_jax.models.generation import Generator
from gemma_jax.runs.run_store import RunStore

pytestmark = pytest.mark.slow  # a trained tiny run and several scoring passes: about a minute

CONTRACT = {"step", "split", "examples", "tuned", "base", "delta", "report", "predictions"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def checkpoint(run_dir):
    return load_run_checkpoint(str(run_dir))


def test_whole_split_report_predictions_and_the_json_line(run_dir, capsys):
    assert evaluate_main([str(run_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert CONTRACT <= set(summary)
    folder = run_dir / "eval" / "step-3-validation"
    assert summary["report"] == str(folder / "report.json") and summary["predictions"] == str(
        folder / "predictions.jsonl"
    )
    report = json.loads((folder / "report.json").read_text())
    records, _ = RunStore.open(run_dir).read_metrics()
    logged = next(r["eval_loss"] for r in records if r.get("step") == 3 and "eval_loss" in r)
    assert report["tuned"]["loss"] == pytest.approx(logged, rel=1e-5)  # the trainer's own number
    assert report["tuned"]["perplexity"] == pytest.approx(math.exp(report["tuned"]["loss"]))
    assert report["base"]["loss"] > report["tuned"]["loss"]  # three steps of training helped
    assert report["examples"] == report["total_examples"] == summary["examples"] > 8  # the whole split
    for name in ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "exact_match", "f1", "loss"):
        assert name in summary["tuned"] and name in summary["base"]
        assert summary["delta"][name] == pytest.approx(summary["tuned"][name] - summary["base"][name])
        low, high = report["interval"][name]
        assert low <= high
    assert 0 <= summary["tuned"]["rougeL"] <= 1 and 0 <= summary["tuned"]["chrf"] <= 100
    assert report["data_hash"].startswith("sha256:") and report["settings"]["temperature"] == 0.0
    rows = read_predictions(read_reports(run_dir)[0])
    assert len(rows) == report["examples"]
    for row in rows:
        assert row["prompt"] and row["reference"] and isinstance(row["tuned"], str) and isinstance(row["base"], str)
        assert 0 < row["tuned_loss"] < 20 and 0 < row["base_loss"] < 20
        assert "rougeL" in row["tuned_scores"] and "rougeL" in row["base_scores"]
        token = row["tuned_tokens"][0]
        assert len(token["top"]) == 5 and token["log_prob"] <= 0
        assert token["top"][0][1] >= token["log_prob"] - 1e-5  # the best alternative is at least as likely
    assert set(report["hardest"]) == {"highest_loss", "loss_regressions", "score_regressions"}
    worst = max(rows, key=lambda r: r["tuned_loss"])
    assert report["hardest"]["highest_loss"][0] == worst["index"]


def test_batched_answers_equal_one_at_a_time(checkpoint):
    generator = Generator(checkpoint.model, max_length=checkpoint.model.context_length)
    checkpoint.use(checkpoint.tuned)
    prompts = [
        "<start_of_turn>user\nWhat is the capital of Norway?<end_of_turn>\n<start_of_turn>model\n",
        "Hi",
        "A much longer prompt, with several words in it, to pad the others in its batch: boat, sea, sail.",
        "How many letters are in the word boat?",
        "x",
    ]
    batched = answer_prompts(generator, prompts, EvalSettings(batch_size=8), 16)
    alone = answer_prompts(generator, prompts, EvalSettings(batch_size=1), 16)
    assert batched == alone and all(isinstance(a, str) for a in batched)


def test_ctrl_c_keeps_the_answers_so_far(checkpoint):
    def progress(stage, done=None, total=None, **_kwargs):
        if stage == "answers" and done and done >= 4 and _kwargs.get("detail") == "base model":
            raise KeyboardInterrupt

    report, rows = evaluate_run(checkpoint, EvalSettings(batch_size=4), progress)
    assert report["partial"] and report["examples"] == 4 == len(rows) < report["total_examples"]
    assert all(isinstance(r["tuned"], str) and isinstance(r["base"], str) for r in rows)
    assert "rougeL" in report["delta"]


def test_custom_metrics_one_failing_does_not_lose_the_others(checkpoint, tmp_path, monkeypatch):
    (tmp_path / "my_metrics.py").write_text(
        "def words(prediction, reference, example):\n"
        "    return {'words': len(prediction.split()), 'has_prompt': float(bool(example['prompt']))}\n"
        "def broken(prediction, reference, example):\n"
        "    raise RuntimeError('boom')\n"
    )
    settings = EvalSettings(
        max_examples=3, metrics=("rougeL",), custom_metrics=("my_metrics:words", "my_metrics:broken")
    )
    report, rows = evaluate_run(checkpoint, settings, search_path=[str(tmp_path)])
    assert report["tuned"]["has_prompt"] == 1.0 and "words" in report["base"] and "words" in report["delta"]
    assert "rougeL" in report["tuned"] and set(report["tuned"]) == {"rougeL", "words", "has_prompt"}
    assert "boom" in report["custom_errors"]["my_metrics:broken"]
    assert all("words" in row["tuned_scores"] for row in rows)


def test_multiple_choice_and_compare(run_dir, tmp_path, capsys):
    choices = tmp_path / "questions.jsonl"
    choices.write_text(
        json.dumps({"question": "What is the capital of Norway?", "choices": ["Oslo", "Paris", "Rome"], "answer": 0})
        + "\n"
        + json.dumps({"question": "How many letters are in boat?", "choices": ["4", "7"], "answer": "A"})
        + "\n"
    )
    args = [str(run_dir), "--step", "2", "--split", "test", "--max-examples", "2", "--metrics", "chrf"]
    assert cli_main(["evaluate", *args, "--choices", str(choices), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["examples"] == 2 and set(summary["tuned"]) >= {"chrf", "choice_accuracy"}
    report = json.loads((run_dir / "eval" / "step-2-test" / "report.json").read_text())
    assert report["choice"]["questions"] == 2 and len(report["choice"]["tuned"]["picked"]) == 2
    assert cli_main(["evaluate", "--compare", str(run_dir), "--json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out.strip().splitlines()[-1])["rows"]
    assert {(r["step"], r["split"]) for r in rows} >= {(2, "test")}
    assert "chrf" in out.splitlines()[0]


def test_clear_errors(run_dir, tmp_path, capsys):
    assert evaluate_main([str(run_dir), "--step", "9"]) == 2
    assert "no checkpoint at step 9; it has [2, 3]" in capsys.readouterr().err
    assert evaluate_main([str(untrained_run(tmp_path))]) == 2
    assert "has no checkpoint yet" in capsys.readouterr().err
    assert evaluate_main([str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    assert evaluate_main([str(run_dir), "--metrics", "blue"]) == 2
    assert "unknown metric 'blue'" in capsys.readouterr().err
    assert evaluate_main([str(run_dir), "--temperature", "-1"]) == 2
    assert "--temperature" in capsys.readouterr().err
    assert evaluate_main(["--compare", str(tmp_path / "missing")]) == 2
