"""Round trips and strict parsing of JobConfig dicts and YAML files."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from gemma_jax.config import (
    AugmentConfig,
    CheckpointConfig,
    ConfigError,
    DataConfig,
    EvalConfig,
    JobConfig,
    MeshConfig,
    MethodConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
from gemma_jax.config.field_spec import FieldSpec, strip_optional
from gemma_jax.config.fields import field_specs

EVERYTHING_CHANGED = JobConfig(
    name="changed",
    runs_dir="/tmp/elsewhere",
    data=DataConfig(
        train_path="train.jsonl",
        validation_path="val.jsonl",
        validation_fraction=0.25,
        format="jsonl",
        prompt_column="q",
        response_column="a",
        system_column="sys",
        messages_column="turns",
        loss_on="all",
        sequence_length=1024,
        packing=False,
        shuffle=False,
        seed=7,
        text_column="body",
        label_column="class",
        chosen_column="good",
        rejected_column="bad",
        shape="preference",
        infer_columns=True,
        source="hf",
        split="validation",
        subset="en",
        data_dir="/data/cache",
        delimiter=";",
        quote_char="'",
        encoding="latin-1",
        header=False,
        sheet="Sheet2",
        text_mode="regex",
        text_regex="(?P<prompt>.+)=>(?P<response>.+)",
        test_path="test.jsonl",
        test_fraction=0.05,
        split_by="label",
        clean_html=True,
        unicode_form="NFKC",
        drop_control_chars=False,
        normalize_whitespace=True,
        allow_special_tokens=True,
        truncation="keep_response",
        augment=AugmentConfig(
            methods=("swap", "paraphrase"),
            copies=2,
            synonym_rate=0.2,
            insert_rate=0.2,
            delete_rate=0.2,
            swap_rate=0.2,
            turns="all",
            pivot_language="German",
            source_language="Spanish",
            max_new_tokens=64,
            temperature=0.0,
        ),
    ),
    model=ModelConfig(source="/models/gemma", dtype="bfloat16", remat=True, adapter="/adapters/pirate"),
    method=MethodConfig(
        kind="full",
        lora_rank=16,
        lora_alpha=32.5,
        lora_targets=("key", "ffw_linear"),
        quantization="int4",
        dpo_beta=0.5,
        lora_dropout=0.1,
    ),
    optimizer=OptimizerConfig(
        name="sgd",
        learning_rate=1e-5,
        weight_decay=0.01,
        b1=0.8,
        b2=0.95,
        eps=1e-6,
        momentum=0.5,
        max_grad_norm=None,
    ),
    schedule=ScheduleConfig(name="linear", warmup_steps=10, min_lr_ratio=0.1),
    train=TrainConfig(
        batch_size=16,
        grad_accum_steps=4,
        max_steps=100,
        epochs=2.5,
        log_every_steps=5,
        seed=3,
        webhook_url="https://hooks.example.com/gemma",
    ),
    mesh=MeshConfig(data=2, fsdp=1, model=-1),
    checkpoint=CheckpointConfig(
        directory="gs://bucket/ckpt",
        every_steps=10,
        keep=1,
        keep_best=False,
        save="full",
        async_save=False,
        storage_class="nearline",
        price_per_gib_month=0.02,
    ),
    eval=EvalConfig(
        every_steps=0,
        max_batches=2,
        sample_prompts=("Hi", "2+2?"),
        sample_every_steps=0,
        max_new_tokens=64,
        early_stop_patience=3,
        early_stop_min_delta=0.01,
        metrics=("rougeL", "chrf"),
        custom_metrics=("my_metrics:length_ok",),
    ),
)


def _field_values(cfg: JobConfig) -> dict[str, object]:
    return {path: get_value(cfg, path) for path in field_specs()}


def get_value(cfg: JobConfig, path: str) -> object:
    value: object = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def with_value(cfg, path: str, value: object):
    head, _, rest = path.partition(".")
    if not rest:
        return dataclasses.replace(cfg, **{head: value})
    return dataclasses.replace(cfg, **{head: with_value(getattr(cfg, head), rest, value)})


def _changed(spec: FieldSpec, default: object) -> object:
    """A value of the field's type other than its default, from what the field declares of itself."""
    base = strip_optional(spec.value_type)
    if spec.choices is not None:
        other = next(c for c in reversed(spec.choices) if (c,) != default and c != default)
        return (other,) if spec.is_list else other
    if spec.is_list:
        return ("changed",)
    if base is bool:
        return not default
    if base is str:
        return "changed"
    start = default if isinstance(default, int | float) else (spec.low or 0)
    value = start + 1 if spec.high is None else (start + spec.high) / 2
    return base(value) if value != default else base(value + 1)


def _everything_changed() -> JobConfig:
    """Every field of JobConfig set to a value other than its default, so a new field is covered too."""
    cfg = JobConfig()
    for path, spec in field_specs().items():
        cfg = with_value(cfg, path, _changed(spec, get_value(cfg, path)))
    return cfg


def test_every_field_is_changed_in_the_generated_config():
    default, changed = _field_values(JobConfig()), _field_values(_everything_changed())
    assert [k for k in default if default[k] == changed[k]] == []


@pytest.mark.parametrize(
    "cfg", [JobConfig(), EVERYTHING_CHANGED, _everything_changed()], ids=["defaults", "example", "generated"]
)
def test_dict_round_trip(cfg):
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "cfg", [JobConfig(), EVERYTHING_CHANGED, _everything_changed()], ids=["defaults", "example", "generated"]
)
def test_yaml_round_trip(cfg, tmp_path):
    path = tmp_path / "job.yaml"
    save_config(cfg, path)
    assert load_config(path) == cfg
    assert [p.name for p in tmp_path.iterdir()] == ["job.yaml"]  # no temp file left


def test_to_dict_is_plain():
    d = config_to_dict(EVERYTHING_CHANGED)
    assert d["method"]["lora_targets"] == ["key", "ffw_linear"]
    assert isinstance(d["eval"]["sample_prompts"], list)


def test_partial_dict_keeps_defaults_and_converts_types():
    cfg = config_from_dict(
        {
            "method": {"lora_targets": ["query", "key"]},
            "optimizer": {"learning_rate": 1},
            "eval": None,
            "checkpoint": {"directory": None},
        }
    )
    assert cfg.method.lora_targets == ("query", "key")
    assert cfg.optimizer.learning_rate == 1.0 and isinstance(cfg.optimizer.learning_rate, float)
    assert cfg.eval == EvalConfig() and cfg.train == TrainConfig()
    assert config_from_dict(None) == JobConfig() == config_from_dict({})
    assert config_from_dict({"train": TrainConfig(batch_size=4)}).train.batch_size == 4


def test_all_problems_collected_with_did_you_mean_at_every_level():
    with pytest.raises(ConfigError) as info:
        config_from_dict(
            {
                "nmae": "x",
                "optimizer": {"learnig_rate": 1e-4},
                "train": {"batch_size": "eight", "learning_rate": 1.0},
                "method": {"lora_targets": "query", "lora_rank": 8.0},
                "data": {"packing": "yes", "sequence_length": True},
                "model": {"dtype": None},
                "mesh": 4,
            }
        )
    problems = info.value.problems
    assert problems == [
        "nmae: unknown key; did you mean 'name'?",
        "optimizer.learnig_rate: unknown key; did you mean 'learning_rate'?",
        "train.batch_size must be an integer, got 'eight'",
        "train.learning_rate: unknown key; did you mean 'optimizer.learning_rate'?",
        "method.lora_targets must be a list of strings, got 'query'; write it as a list, e.g. [query]",
        "method.lora_rank must be an integer, got 8.0",
        "data.packing must be true or false, got 'yes'",
        "data.sequence_length must be an integer, got True",
        "model.dtype cannot be null; give a string or remove the key to use the default 'auto'",
        "mesh must be a section of key: value lines, got 4",
    ]
    assert str(info.value).splitlines() == problems
    assert isinstance(info.value, ValueError)


def test_unknown_key_without_near_miss_lists_known_keys():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"schedule": {"zzz": 1}})
    assert info.value.problems == ["schedule.zzz: unknown key; known keys here are name, warmup_steps, min_lr_ratio"]


def test_messages_give_hints_for_quoted_numbers_and_unquoted_text():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"optimizer": {"learning_rate": "1e-4"}, "name": 2024, "eval": {"sample_prompts": ["ok", 3]}})
    assert info.value.problems == [
        "optimizer.learning_rate must be a number, got '1e-4'; write the number without quotes",
        "name must be a string, got 2024; put it in quotes if it is meant as text",
        "eval.sample_prompts[1] must be a string, got 3; put it in quotes",
    ]


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match="must be a mapping"):
        config_from_dict(["a"])  # type: ignore[arg-type]


def test_config_error_pickles():
    err = ConfigError(["a", "b"], source="x.yaml")
    again = pickle.loads(pickle.dumps(err))
    assert again.problems == ["a", "b"] and str(again) == str(err)
    assert str(err) == "x.yaml: 2 problems\n  a\n  b"


def test_load_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_load_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: ok\noptimizer:\n  learning_rate: [1\n  b1: 0.9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (message,) = info.value.problems
    assert str(path) in message and "line 4" in message and "YAML syntax error" in message


def test_load_reads_exponent_floats_and_reports_repeats_and_bad_keys(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("optimizer:\n  learning_rate: 1e-4\n  b1: 0.8\n  b1: 0.7\ntrain:\n  batch_sise: 4\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        "line 4: key 'b1' is repeated (first on line 3); keep only one",
        "train.batch_sise: unknown key; did you mean 'batch_size'?",
    ]
    assert str(info.value).startswith(f"{path}: 2 problems")
    path.write_text("optimizer:\n  learning_rate: 1e-4\neval:\n")
    cfg = load_config(path)
    assert cfg.optimizer.learning_rate == 1e-4 and cfg.eval == EvalConfig()


def test_load_rejects_non_mapping_and_empty_file_is_defaults(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be key: value"):
        load_config(path)
    path.write_text("# nothing\n")
    assert load_config(path) == JobConfig()
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
