"""validate(): every rule, one problem per bad field, each naming the field and the fix."""

from __future__ import annotations

import dataclasses

import pytest

from gemma_jax.config import (
    ConfigError,
    JobConfig,
    MeshConfig,
    MethodConfig,
    TrainConfig,
    apply_overrides,
    check,
    resolve_mesh_shape,
    validate,
)

# (overrides, validate kwargs, fragments the single problem must contain: the field and the fix)
CASES = [
    (["data.format=jsnl"], {}, ["data.format", "auto | jsonl | csv", "did you mean 'jsonl'"]),
    (["data.loss_on=responses"], {}, ["data.loss_on", "response | all", "did you mean 'response'"]),
    (["method.kind=LoRA"], {}, ["method.kind", "lora | full", "did you mean 'lora'"]),
    (["optimizer.name=adam"], {}, ["optimizer.name", "adamw | adafactor | lion | sgd", "did you mean 'adamw'"]),
    (["schedule.name=cosin"], {}, ["schedule.name", "constant | linear | cosine", "did you mean 'cosine'"]),
    (["model.dtype=bf16"], {}, ["model.dtype", "auto | float32 | bfloat16"]),
    (["checkpoint.save=all"], {}, ["checkpoint.save", "trainable | full"]),
    (["method.lora_rank=0"], {}, ["method.lora_rank must be at least 1", "4 to 64"]),
    (["optimizer.learning_rate=.inf"], {}, ["optimizer.learning_rate must be a finite number, got inf", "1e-4"]),
    (["optimizer.weight_decay=-.inf"], {}, ["optimizer.weight_decay must be a finite number, got -inf"]),
    (["method.lora_alpha=0"], {}, ["method.lora_alpha must be greater than 0", "twice method.lora_rank"]),
    (["method.lora_targets=[]"], {}, ["method.lora_targets is empty", "e.g. [query, value]"]),
    (["method.lora_targets=[qury]"], {}, ["method.lora_targets", "'qury'", "did you mean 'query'"]),
    (["method.lora_targets=[mlp]"], {}, ["method.lora_targets", "'mlp'", "known targets are query"]),
    (["method.lora_targets=[query, query]"], {}, ["method.lora_targets", "'query'", "remove the repeats"]),
    (["optimizer.learning_rate=0"], {}, ["optimizer.learning_rate must be greater than 0", "1e-4 to 2e-3 is usual"]),
    (["method.kind=full", "optimizer.learning_rate=0"], {}, ["1e-5 to 1e-4 is usual for full fine-tuning"]),
    (["optimizer.learning_rate=.nan"], {}, ["optimizer.learning_rate must be a finite number, got nan"]),
    (["optimizer.weight_decay=-0.1"], {}, ["optimizer.weight_decay must be at least 0", "0 to turn"]),
    (["optimizer.b1=1.0"], {}, ["optimizer.b1 must be at least 0 and below 1", "0.9"]),
    (["optimizer.b2=-0.5"], {}, ["optimizer.b2 must be at least 0 and below 1", "0.999"]),
    (["optimizer.eps=-1"], {}, ["optimizer.eps must be at least 0", "1e-8"]),
    (["optimizer.momentum=1"], {}, ["optimizer.momentum must be at least 0 and below 1", "0.9"]),
    (["optimizer.max_grad_norm=-1"], {}, ["optimizer.max_grad_norm must be at least 0", "null or 0"]),
    (["schedule.warmup_steps=-5"], {}, ["schedule.warmup_steps must be at least 0", "0 for no warmup"]),
    (["schedule.min_lr_ratio=1.5"], {}, ["schedule.min_lr_ratio must be between 0 and 1", "e.g. 0.1"]),
    (["schedule.min_lr_ratio=-0.1"], {}, ["schedule.min_lr_ratio must be between 0 and 1"]),
    (["train.batch_size=0"], {}, ["train.batch_size must be at least 1", "e.g. 8"]),
    (["train.grad_accum_steps=0"], {}, ["train.grad_accum_steps must be at least 1", "use 1"]),
    (
        ["train.batch_size=10", "train.grad_accum_steps=4"],
        {},
        ["train.batch_size=10 is not divisible by train.grad_accum_steps=4", "multiple of 4, e.g. 12"],
    ),
    (["train.max_steps=0"], {}, ["train.max_steps must be at least 1", "null to run train.epochs"]),
    (["train.epochs=0"], {}, ["train.epochs must be greater than 0", "e.g. 1"]),
    (["train.log_every_steps=0"], {}, ["train.log_every_steps must be at least 1", "e.g. 10"]),
    (["data.sequence_length=4"], {}, ["data.sequence_length must be at least 8", "256 to 2048"]),
    (["data.validation_fraction=0.95"], {}, ["data.validation_fraction must be between 0 and 0.9", "0.1"]),
    (["data.validation_fraction=-0.1"], {}, ["data.validation_fraction must be between 0 and 0.9"]),
    (["mesh.data=0"], {}, ["mesh.data must be -1 (all devices left over) or at least 1, got 0"]),
    (["mesh.model=-2"], {}, ["mesh.model must be -1", "got -2"]),
    (["mesh.data=-1"], {}, ["mesh.data and mesh.fsdp are both -1", "give the others fixed sizes"]),
    (
        ["mesh.data=2", "mesh.fsdp=2"],
        {"device_count": 8},
        [
            "mesh data=2 × fsdp=2 × model=1 uses 4 devices but 8 are available",
            "make the product 8",
            "set one axis to -1",
        ],
    ),
    (
        ["mesh.data=3"],
        {"device_count": 8},
        ["mesh data=3 × model=1 uses 3 devices", "mesh.fsdp=-1 cannot take the rest", "divides 8"],
    ),
    (
        ["train.batch_size=6"],
        {"device_count": 4},
        [
            (
                "train.batch_size=6 with grad_accum_steps=1 gives 6 rows per step, which cannot be split evenly "
                "over data×fsdp=4 devices; use a train.batch_size that is a multiple of 4, e.g. 8"
            )
        ],
    ),
    (
        ["train.batch_size=8", "train.grad_accum_steps=2", "mesh.data=8", "mesh.fsdp=1"],
        {},
        ["train.batch_size=8 with grad_accum_steps=2 gives 4 rows", "data×fsdp=8", "multiple of 16, e.g. 16"],
    ),
    (
        ["data.sequence_length=8192"],
        {"model_context_length": 4096},
        ["data.sequence_length=8192 is longer than the model's context length 4096", "use 4096 or less"],
    ),
    (["checkpoint.every_steps=0"], {}, ["checkpoint.every_steps must be at least 1", "e.g. 50"]),
    (["checkpoint.keep=0"], {}, ["checkpoint.keep must be at least 1", "e.g. 3"]),
    (["checkpoint.directory=''"], {}, ["checkpoint.directory is empty", "use null"]),
    (["eval.every_steps=-1"], {}, ["eval.every_steps must be at least 0", "0 to turn periodic evaluation off"]),
    (["eval.max_new_tokens=0"], {}, ["eval.max_new_tokens must be at least 1", "e.g. 32"]),
    (["eval.max_batches=0"], {}, ["eval.max_batches must be at least 1"]),
    (["eval.sample_every_steps=-1"], {}, ["eval.sample_every_steps must be at least 0", "0 to turn samples"]),
    (["name=a/b"], {}, ["name 'a/b'", "cannot contain '/'", "e.g. 'a-b'"]),
    (["name=<b>x</b>"], {}, ["name '<b>x</b>'", "e.g. 'b-x-b'"]),  # a suggestion made only of name characters
    (["name=''"], {}, ["name is empty", "'my-lora'"]),
    (["runs_dir=''"], {}, ["runs_dir is empty", "'runs'"]),
    (["data.train_path=''"], {}, ["data.train_path is empty", "'example'"]),
    (["model.source=''"], {}, ["model.source is empty", "tiny:gemma3"]),
]


@pytest.mark.parametrize(("overrides", "kwargs", "fragments"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_rule(overrides, kwargs, fragments):
    problems = validate(apply_overrides(JobConfig(), overrides), **kwargs)
    assert len(problems) == 1, problems
    for fragment in fragments:
        assert fragment in problems[0]


def test_defaults_are_valid_everywhere():
    assert validate(JobConfig()) == []
    for devices in (1, 2, 4, 8):
        assert validate(JobConfig(), device_count=devices, model_context_length=256, model_num_layers=4) == []


def test_every_problem_at_once():
    cfg = apply_overrides(
        JobConfig(),
        [
            "method.lora_rank=0",
            "optimizer.learning_rate=-1",
            "train.batch_size=0",
            "data.format=xml",
            "mesh.data=-1",
            "checkpoint.keep=0",
        ],
    )
    problems = validate(cfg)
    assert len(problems) == 6
    with pytest.raises(ConfigError) as info:
        check(cfg)
    assert info.value.problems == problems
    assert check(JobConfig()) == JobConfig()


def test_full_fine_tuning_ignores_lora_settings():
    cfg = JobConfig(method=MethodConfig(kind="full", lora_rank=0, lora_targets=()))
    assert validate(cfg) == []


def test_wrong_types_built_in_python_are_reported_not_crashed():
    cfg = JobConfig(train=TrainConfig(batch_size="8"), method=MethodConfig(lora_targets="query"))  # type: ignore
    problems = validate(cfg, device_count=2)
    assert problems == [
        "method.lora_targets must be a list of strings, got 'query'; write it as a list, e.g. [query]",
        "train.batch_size must be an integer, got '8'; write the number without quotes",
    ]
    bad_section = dataclasses.replace(JobConfig(), train={"batch_size": 8})  # type: ignore[arg-type]
    assert validate(bad_section) == [
        "train must be a TrainConfig, got dict; build configs with config_from_dict() or the section classes"
    ]


def test_resolve_mesh_shape():
    assert resolve_mesh_shape(MeshConfig(), 8) == (1, 8, 1)
    assert resolve_mesh_shape(MeshConfig(data=2, fsdp=-1, model=2), 8) == (2, 2, 2)
    assert resolve_mesh_shape(MeshConfig(data=-1, fsdp=1, model=1), 1) == (1, 1, 1)
    assert resolve_mesh_shape(MeshConfig(data=2, fsdp=2, model=2), 8) == (2, 2, 2)
    with pytest.raises(ConfigError, match="uses 4 devices but 8 are available"):
        resolve_mesh_shape(MeshConfig(data=2, fsdp=2, model=1), 8)
    with pytest.raises(ConfigError, match="only one axis may be -1"):
        resolve_mesh_shape(MeshConfig(data=-1, fsdp=-1), 8)


def test_model_adapter_must_be_a_peft_adapter_folder(tmp_path):
    assert validate(apply_overrides(JobConfig(), [f"model.adapter={tmp_path}"]))[0].startswith(
        f"model.adapter '{tmp_path}' is not a PEFT adapter folder (no adapter_config.json in it)"
    )
    (tmp_path / "adapter_config.json").write_text("{}")
    assert validate(apply_overrides(JobConfig(), [f"model.adapter={tmp_path}"])) == []


def test_a_lora_rank_above_the_hidden_size_is_refused_before_a_run_starts():
    from gemma_jax.preflight import preflight_problems

    (problem,) = preflight_problems(
        apply_overrides(JobConfig(), ["model.source=tiny:gemma3", "method.lora_rank=100000"])
    )
    assert problem.startswith("method.lora_rank 100000 is larger than the model's hidden size 64")
    assert preflight_problems(apply_overrides(JobConfig(), ["model.source=tiny:gemma3", "method.lora_rank=64"])) == []
    full = ["model.source=tiny:gemma3", "method.kind=full", "method.lora_rank=100000"]
    assert preflight_problems(apply_overrides(JobConfig(), full)) == []  # full fine-tuning has no rank
