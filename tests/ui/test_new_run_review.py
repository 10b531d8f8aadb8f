"""The wizard's Review step and the page: problems block Start, the YAML and the command rebuild the config."""

from __future__ import annotations

import html
import shlex

import pytest
from new_run_helpers import make_wizard

from gemma_jax.cli import build_parser
from gemma_jax.config import JobConfig, apply_overrides, load_config
from ui.state.new_run import STEPS


def _edited(tmp_path):
    wizard = make_wizard(tmp_path)
    wizard.apply_preset("classification")
    wizard.apply_preset("cpu")
    wizard.set("name", "my run")
    wizard.set("optimizer.learning_rate", 3e-5)
    wizard.set("optimizer.max_grad_norm", None)
    wizard.set("data.system_column", "system prompt")
    wizard.set("method.lora_targets", ["query", "ffw_linear"])
    return wizard


def test_yaml_loads_back_to_the_config(tmp_path):
    wizard = _edited(tmp_path)
    path = tmp_path / wizard.review.file_name()
    path.write_text(wizard.review.yaml_text())
    assert path.name == "my run.yaml"
    assert load_config(path) == wizard.config


def _argv(command: str) -> list[str]:
    """The words a shell makes of `command` (a backslash at a line's end continues the line)."""
    return shlex.split(command.replace(" \\\n", " "))


def test_command_is_accepted_by_gemma_jax_train(tmp_path):
    wizard = _edited(tmp_path)
    argv = _argv(wizard.review.command())
    assert argv[:2] == ["gemma-jax", "train"]
    args = build_parser().parse_args(argv[1:])
    assert args.config is None
    assert apply_overrides(JobConfig(), args.set) == wizard.config


def test_every_problem_listed_and_start_refused(tmp_path):
    wizard = make_wizard(tmp_path)
    wizard.data.upload("bad.csv", b"prompt,response\nhello,hi\nbroken,\n")
    wizard.data.run_check()
    wizard.set("optimizer.learning_rate", -1.0)
    wizard.set("train.batch_size", 0)
    problems = wizard.review.problems()
    assert any(p.startswith("Learning rate: Type a learning rate above 0") for p in problems)
    assert any(p.startswith("Batch size: Type how many rows") for p in problems)
    assert any(p.startswith("data: line 3") for p in problems)
    assert not any("optimizer.learning_rate" in p or "train.batch_size" in p for p in problems)
    assert wizard.review.start() is None
    assert wizard.session.notifications[-1][1] == "error" and "problem" in wizard.session.notifications[-1][2]


def test_unchecked_data_blocks_start_and_no_runner_is_explained(tmp_path):
    wizard = make_wizard(tmp_path)
    assert any("check the data first" in p for p in wizard.review.problems())
    wizard.data.run_check()
    assert wizard.review.problems() == []
    assert wizard.review.start() is None
    assert "no job runner" in wizard.session.notifications[-1][2]


def test_start_submits_to_the_runner_and_opens_the_run(tmp_path):
    from gemma_jax.jobs import JobRunner
    from gemma_jax.runs import RunStore

    wizard = make_wizard(tmp_path)
    runner = JobRunner([wizard.session.workspace.runs_dir], slots=1)
    wizard.session.runner = runner
    wizard.set("name", "wizard")
    wizard.set("train.max_steps", 1)
    wizard.data.run_check()
    run_id = wizard.review.start()
    try:
        assert run_id is not None and wizard.session.selected_run == run_id
        assert wizard.session.page == "Training" and wizard.session.notifications[-1][1] == "success"
        assert wizard.review.start() is None  # a second click on Start: still one run
        assert [p.name for p in wizard.session.workspace.runs_dir.iterdir()] == [run_id]
        store = RunStore.open(wizard.session.workspace.runs_dir / run_id)
        assert store.config() == wizard.config
    finally:
        runner.kill(wizard.session.workspace.runs_dir / run_id)
        runner.close()


def test_clone_config_starts_the_wizard_once(tmp_path):
    wizard = make_wizard(tmp_path)
    session = wizard.session
    session.clone_config = apply_overrides(
        JobConfig(), ["method.lora_rank=4", "name=again", "checkpoint.directory=/elsewhere/ckpt"]
    )
    from ui.state.new_run import NewRunState

    cloned = NewRunState(session, hardware=wizard.model.hardware)
    assert cloned.config.method.lora_rank == 4 and cloned.config.name == "again"
    assert cloned.config.checkpoint.directory is None  # never the original's checkpoints
    assert cloned.config.runs_dir == str(session.workspace.runs_dir)
    assert session.clone_config is None
    assert NewRunState(session, hardware=wizard.model.hardware).config.method.lora_rank == 16  # quick start again
    cloned.step = "Review"  # a page built earlier picks up a later clone when shown again
    assert not cloned.take_clone()
    session.clone_config = apply_overrides(JobConfig(), ["method.lora_rank=2"])
    assert cloned.take_clone() and cloned.config.method.lora_rank == 2 and cloned.step == "Data"


def test_steps_move_forward_and_back(tmp_path):
    wizard = make_wizard(tmp_path)
    wizard.back()
    assert wizard.step == "Data"
    for expected in STEPS[1:]:
        wizard.next()
        assert wizard.step == expected
    wizard.next()
    assert wizard.step == "Review"


def test_page_builds_and_follows_the_state(tmp_path):
    pn = pytest.importorskip("panel")
    from bokeh.document import Document

    from ui.views.new_run import NewRunPage

    wizard = make_wizard(tmp_path)
    page = NewRunPage(wizard.session, hardware=wizard.model.hardware)
    layout = page.__panel__()
    assert isinstance(layout, pn.viewable.Viewable)
    page.state.apply_preset("chat")
    method = page.views["Method"]
    assert method.widgets["method.lora_rank"].value == 16
    assert page.state.data.run_check().ok
    page.state.set("method.kind", "full")
    assert not method.cells["method.lora_rank"].visible
    assert len(method.plot.object.renderers[0].data_source.data["step"]) > 1
    page.state.go("Review")
    review = page.views["Review"]
    assert "ready to start" in review.problems.object and not review.start.disabled
    assert "gemma-jax train" in review.command.object
    assert review.run_name.value == page.state.config.name and "Run name" == review.run_name.label
    review.run_name.value = "pirates-v2"
    assert page.state.config.name == "pirates-v2"
    assert "gemma-jax train pirates-v2.yaml" in html.unescape(review.command.object)
    page.state.set("train.batch_size", 0)
    assert review.start.disabled and "Batch size: Type how many rows" in html.unescape(review.problems.object)
    layout.get_root(Document())  # renders every step's Bokeh models


def test_the_command_is_readable_and_still_correct(tmp_path):
    from gemma_jax.config.presets import apply_preset

    wizard = make_wizard(tmp_path)
    wizard.config = apply_preset(wizard.config, "quickstart")
    wizard.set("name", "my run")
    command = wizard.review.command()
    assert "'\"'\"'" not in command  # the old single-quote soup
    lines = command.splitlines()
    assert lines[0] == "gemma-jax train \\" and all(line.startswith("  --set ") for line in lines[1:])
    assert "  --set \"eval.sample_prompts=['What is the capital of Norway?', 'What is 9 plus 4?']\" \\" in lines
    args = build_parser().parse_args(_argv(command)[1:])
    assert apply_overrides(JobConfig(), args.set) == wizard.config
    assert wizard.review.file_command() == 'gemma-jax train "my run.yaml"'
    wizard.set("name", "cost $5")  # what double quotes would expand goes in single quotes
    assert "--set 'name=cost $5'" in wizard.review.command()
