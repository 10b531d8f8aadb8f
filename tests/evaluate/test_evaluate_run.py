"""`python -m gemma_jax.evaluate`: the loss training logs, base vs tuned, per-example answers, clear errors."""

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run, untrained_run

from gemma_jax.cli import main as cli_main
from gemma_jax.evaluate import read_reports
from gemma_jax.evaluate.__main__ import main as evaluate_main
from gemma_jax.runs.run_store import RunStore

pytestmark = pytest.mark.slow  # a trained tiny run and two scoring passes: about half a minute


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory)


def test_report_matches_the_training_eval_and_compares_with_the_base(run_dir):
    assert evaluate_main([str(run_dir), "--max-examples", "2"]) == 0
    path = run_dir / "eval" / "step-3-validation.json"
    report = json.loads(path.read_text())
    records, _ = RunStore.open(run_dir).read_metrics()
    logged = next(r["eval_loss"] for r in records if r.get("step") == 3 and "eval_loss" in r)
    assert report["step"] == 3 and report["split"] == "validation"
    assert report["eval_loss"] == pytest.approx(logged, rel=1e-5)  # the trainer's own number
    assert report["perplexity"] == pytest.approx(math.exp(report["eval_loss"]))
    assert report["base_eval_loss"] > report["eval_loss"]  # three steps of training helped
    assert report["tokens"] > 0
    assert len(report["examples"]) == 2
    for example in report["examples"]:
        assert example["prompt"] and example["reference"]
        assert isinstance(example["base_answer"], str) and isinstance(example["tuned_answer"], str)
        assert 0 < example["loss"] < 20 and 0 < example["base_loss"] < 20
    assert any(e["loss"] != e["base_loss"] for e in report["examples"])
    assert read_reports(run_dir)[0]["path"] == str(path)


def test_cli_evaluates_an_older_checkpoint_on_test(run_dir):
    assert cli_main(["evaluate", str(run_dir), "--step", "2", "--split", "test", "--max-examples", "0"]) == 0
    report = json.loads((run_dir / "eval" / "step-2-test.json").read_text())
    assert report["step"] == 2 and report["examples"] == [] and report["eval_loss"] > 0
    assert [(r["step"], r["split"]) for r in read_reports(run_dir)][-1] == (2, "test")


def test_clear_errors(run_dir, tmp_path, capsys):
    assert evaluate_main([str(run_dir), "--step", "9"]) == 2
    assert "no checkpoint at step 9; it has [2, 3]" in capsys.readouterr().err
    assert evaluate_main([str(untrained_run(tmp_path))]) == 2
    assert "has no checkpoint yet" in capsys.readouterr().err
    assert evaluate_main([str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "step-1-test.json").write_text("{half")
    assert read_reports(tmp_path) == []  # a report being written is skipped, not an error
