"""The wizard's Method step: presets over the config, fields per method, the learning-rate curve."""

from __future__ import annotations

import pytest
from new_run_helpers import make_wizard

from gemma_jax.config import ConfigError


def test_preset_changes_the_config_and_keeps_the_workspace(tmp_path):
    wizard = make_wizard(tmp_path)
    wizard.set("name", "pirates")
    wizard.apply_preset("chat")
    cfg = wizard.config
    assert cfg.method.lora_rank == 16 and cfg.data.sequence_length == 512
    assert cfg.name == "pirates" and cfg.runs_dir == str(wizard.session.workspace.runs_dir)
    wizard.apply_preset("gpu_small")
    assert wizard.config.method.kind == "qlora" and wizard.config.data.sequence_length == 512
    with pytest.raises(ConfigError):
        wizard.apply_preset("nope")


def test_fields_follow_the_method(tmp_path):
    wizard = make_wizard(tmp_path)
    shown = wizard.method.basic_fields()
    assert "method.lora_rank" in shown and "method.quantization" not in shown and "method.dpo_beta" not in shown
    wizard.set("method.kind", "qlora")
    assert "method.quantization" in wizard.method.basic_fields()
    wizard.set("method.kind", "full")
    assert not {"method.lora_rank", "method.lora_targets"} & set(wizard.method.basic_fields())
    assert "optimizer.max_grad_norm" in wizard.method.advanced_fields()


def test_learning_rate_curve_is_the_engines_schedule(tmp_path):
    wizard = make_wizard(tmp_path)
    for path, value in [
        ("train.max_steps", 100),
        ("schedule.name", "cosine"),
        ("schedule.warmup_steps", 10),
        ("schedule.min_lr_ratio", 0.1),
        ("optimizer.learning_rate", 1e-3),
    ]:
        wizard.set(path, value)
    assert wizard.method.total_steps() == (100, True)
    steps, rates = wizard.method.curve()
    assert steps[0] == 0 and steps[-1] == 100
    assert rates[0] == 0.0  # warmup starts from zero
    assert rates[steps.index(10)] == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(1e-4, rel=1e-3)  # min_lr_ratio of the peak
    wizard.set("schedule.name", "constant")
    assert wizard.method.curve()[1][-1] == pytest.approx(1e-3)


def test_total_steps_estimated_from_the_checked_data(tmp_path):
    wizard = make_wizard(tmp_path)
    unchecked, exact = wizard.method.total_steps()
    assert not exact
    wizard.data.run_check()
    steps, exact = wizard.method.total_steps()
    assert not exact and steps >= 1 and steps != unchecked
    wizard.set("train.epochs", 3.0)
    assert wizard.method.total_steps()[0] == pytest.approx(3 * steps, abs=3)
