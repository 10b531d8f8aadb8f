"""The fields behind the dashboard's live controls: LoRA dropout, early stopping, the webhook."""

import pytest

from gemma_jax.config import JobConfig, apply_overrides, load_config, save_config, validate

CASES = [
    (["method.lora_dropout=1"], ["method.lora_dropout must be at least 0 and below 1", "e.g. 0.05"]),
    (["method.lora_dropout=-0.1"], ["method.lora_dropout must be at least 0 and below 1"]),
    (["eval.early_stop_patience=-1"], ["eval.early_stop_patience must be at least 0", "0 to turn early stopping off"]),
    (["eval.early_stop_min_delta=-0.5"], ["eval.early_stop_min_delta must be at least 0"]),
    (
        ["eval.early_stop_patience=3", "eval.every_steps=0"],
        ["eval.early_stop_patience=3 needs periodic evaluation", "set eval.every_steps"],
    ),
    (
        ["eval.early_stop_patience=3", "data.validation_fraction=0"],
        ["eval.early_stop_patience=3 needs a validation split", "data.validation_fraction=0.1"],
    ),
    (["train.webhook_url=example.com/hook"], ["train.webhook_url", "not an http(s) URL", "or null"]),
    (["train.webhook_url=ftp://example.com/x"], ["train.webhook_url", "not an http(s) URL"]),
    (["train.webhook_url=http://"], ["train.webhook_url", "not an http(s) URL"]),
]


@pytest.mark.parametrize("overrides, fragments", CASES)
def test_each_bad_value_is_one_clear_problem(overrides, fragments):
    problems = validate(apply_overrides(JobConfig(), overrides))
    assert len(problems) == 1, problems
    for fragment in fragments:
        assert fragment in problems[0], problems[0]


def test_good_values_pass_and_round_trip(tmp_path):
    cfg = apply_overrides(
        JobConfig(),
        [
            "method.lora_dropout=0.05",
            "eval.early_stop_patience=3",
            "eval.early_stop_min_delta=0.01",
            "train.webhook_url=https://hooks.example.com/gemma?token=abc",
        ],
    )
    assert validate(cfg) == []
    save_config(cfg, tmp_path / "job.yaml")
    assert load_config(tmp_path / "job.yaml") == cfg
    defaults = JobConfig()
    assert (defaults.method.lora_dropout, defaults.eval.early_stop_patience) == (0.0, 0)
    assert (defaults.eval.early_stop_min_delta, defaults.train.webhook_url) == (0.0, None)
    # Full fine-tuning has no adapters: LoRA settings, dropout included, are not checked there.
    assert validate(apply_overrides(JobConfig(), ["method.kind=full", "method.lora_dropout=2"])) == []
