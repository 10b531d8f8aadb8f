"""One-click presets: partial configs that combine, validate, and reach the CLI."""

from __future__ import annotations

import dataclasses

import pytest

from gemma_jax.cli import main
from gemma_jax.config import ConfigError, JobConfig, load_config, validate
from gemma_jax.config.presets import PRESETS, apply_preset, get_preset, list_presets


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_gives_a_valid_config_and_keeps_other_keys(name):
    base = JobConfig(name="mine", runs_dir="/somewhere")
    cfg = apply_preset(base, name)
    assert validate(cfg) == []
    assert (cfg.name, cfg.runs_dir, cfg.data.train_path) == ("mine", "/somewhere", "example")
    assert cfg != base


def test_the_quickstart_preset_is_the_quickstart_config_file():
    on_disk = load_config("configs/quickstart.yaml")
    assert apply_preset(JobConfig(), "quickstart") == dataclasses.replace(on_disk, name=JobConfig().name)


def test_task_and_hardware_presets_combine():
    cfg = apply_preset(apply_preset(JobConfig(), "chat"), "cpu")
    assert cfg.method.lora_rank == 16 and cfg.data.sequence_length == 512  # from chat
    assert cfg.model.dtype == "auto" and cfg.train.batch_size == 4  # from cpu: float32, or bf16 on AMX CPUs
    assert isinstance(cfg.method.lora_targets, tuple)


def test_kinds_and_unknown_names():
    assert {p.kind for p in list_presets("task")} == {"task"}
    assert "tpu_v5e_8" in [p.name for p in list_presets("hardware")]
    with pytest.raises(ConfigError, match="did you mean 'chat'"):
        get_preset("caht")
    with pytest.raises(ValueError, match="starter, task, hardware"):
        list_presets("gpus")


def test_init_config_with_presets(tmp_path, capsys):
    path = tmp_path / "job.yaml"
    assert main(["init-config", str(path), "--preset", "summarization", "--preset", "gpu", "--set", "name=sum"]) == 0
    cfg = load_config(path)
    assert cfg == apply_preset(apply_preset(JobConfig(name="sum"), "summarization"), "gpu")
    assert main(["init-config", str(tmp_path / "other.yaml"), "--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
