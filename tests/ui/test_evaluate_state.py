"""Evaluate state: reports listed and shown, clear refusals, and a real evaluation subprocess."""

import json
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

REPORT = {
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


def test_reports_are_listed_newest_first_and_shown(tmp_path):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    (run_dir / "eval" / "step-4-validation.json").write_text(json.dumps(REPORT))
    (run_dir / "eval" / "step-2-test.json").write_text(json.dumps({**REPORT, "step": 2, "split": "test"}))
    state = EvaluateState(session)
    assert [(r["step"], r["split"]) for r in state.reports] == [(4, "validation"), (2, "test")]
    assert state.report["step"] == 4
    assert ("Eval loss", "1.5000") in state.kpis() and ("Base perplexity", "12.18") in state.kpis()
    assert state.example_rows() == [
        {
            "prompt": "Hi?",
            "reference": "Ahoy!",
            "fine-tuned answer": "Ahoy",
            "base answer": "Hello",
            "loss": 1.2,
            "base loss": 2.9,
        }
    ]
    state.show(state.reports[1]["path"])
    assert state.report["split"] == "test"
    page = EvaluatePage(session, state)
    assert isinstance(page.__panel__(), pn.Column) and page.table.visible and not page.empty.visible
    assert not state.run_evaluation() and "has no checkpoint yet" in state.error  # the run never saved one


def test_an_empty_workspace_says_what_to_do(tmp_path):
    session = make_session(tmp_path)
    state = EvaluateState(session)
    assert state.reports == [] and state.kpis() == [] and state.example_rows() == []
    assert not state.run_evaluation() and "New run" in state.error
    assert isinstance(EvaluatePage(session).__panel__(), pn.Column)


@pytest.mark.slow  # two evaluation processes on a trained tiny run: about a minute
def test_a_real_evaluation_runs_in_a_subprocess_and_failures_are_explained(tmp_path_factory, tmp_path):
    session = make_session(tmp_path)
    run_dir = tiny_run(tmp_path_factory, runs_dir=session.workspace.runs_dir)
    state = EvaluateState(session)
    state.max_examples = 1
    assert state.run_evaluation() and state.running
    assert not state.run_evaluation()  # one at a time
    state.wait(300)
    assert not state.running and not state.error, state.error
    assert state.report["step"] == 3 and len(state.report["examples"]) == 1
    assert state.report["path"] == str(run_dir / "eval" / "step-3-validation.json")
    assert session.notifications[-1][1] == "success"

    state.picker.checkpoint = "2"
    shutil.rmtree(run_dir / "checkpoints" / "2")  # gone between picking and running
    assert state.run_evaluation()
    state.wait(300)
    assert not state.running and "no checkpoint at step 2; it has [3]" in state.error
