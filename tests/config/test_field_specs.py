"""Each JobConfig field describes itself once, and every choice it offers has an implementation.

The descriptions feed validate(), `gemma-jax init-config`, the wizard's widgets, labels, tooltips and
field lists, and the dashboard's path confinement; these tests fail when a field lacks its description,
a choice has nothing behind it, or an implementation offers what the config does not.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from gemma_jax.config import JobConfig, apply_overrides, load_config, validate
from gemma_jax.config.dtypes import DTYPES, auto_dtype_reason, resolve_dtype
from gemma_jax.config.field_spec import FieldSpec, collect_specs, setting
from gemma_jax.config.fields import choices_of, field_specs, wizard_fields
from gemma_jax.config.io import config_to_commented_yaml
from gemma_jax.cpu_features import BF16_UNITS_OVERRIDE


def test_every_field_has_a_description_in_words():
    for path, spec in field_specs().items():
        assert len(spec.help) >= 20, path
        if spec.bounded:
            assert spec.hint, f"{path}: a bounded field says how to fix a value out of bounds"


def test_a_field_declared_without_its_description_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Section:
        described: int = setting(1, "A field with its words.")
        bare: int = 2

    with pytest.raises(TypeError, match="bare: declare it with setting"):
        collect_specs(Section)


def test_wizard_places_are_known_and_every_shown_field_explains_itself():
    places = {spec.wizard for spec in field_specs().values()} - {None}
    assert places == {"data", "data.advanced", "method", "method.advanced"}
    for place in places:
        for path in wizard_fields(place):
            assert len(field_specs()[path].help) >= 20, path


def test_lora_targets_are_the_projections_the_lora_module_adapts():
    from gemma_jax.models.lora import LORA_TARGETS

    assert set(choices_of("method.lora_targets")) == set(LORA_TARGETS)


def test_augmentation_methods_are_the_ones_augment_implements():
    from gemma_jax.data.augment import METHODS

    assert set(choices_of("data.augment.methods")) == set(METHODS)


def test_every_optimizer_and_schedule_builds():
    import jax.numpy as jnp

    from gemma_jax.config import OptimizerConfig, ScheduleConfig
    from gemma_jax.train.optimizer import make_optimizer, make_schedule

    params = {"w": jnp.ones((2, 2))}
    for name in choices_of("schedule.name"):
        assert float(make_schedule(ScheduleConfig(name=name, warmup_steps=1), 1e-3, 10)(5)) > 0, name
    for name in choices_of("optimizer.name"):
        optimizer = make_optimizer(OptimizerConfig(name=name), make_schedule(ScheduleConfig(), 1e-3, 10))
        updates, _ = optimizer.update(params, optimizer.init(params), params)
        assert updates["w"].shape == (2, 2), name
    for unknown in (OptimizerConfig(name="adam"), ScheduleConfig(name="step")):
        with pytest.raises(ValueError, match="unknown"):
            make_schedule(unknown, 1e-3, 10) if isinstance(unknown, ScheduleConfig) else make_optimizer(
                unknown, make_schedule(ScheduleConfig(), 1e-3, 10)
            )


def test_dtypes_follow_one_rule(monkeypatch):
    assert choices_of("model.dtype") == DTYPES
    for platform in ("cpu", "gpu", "tpu"):
        assert {resolve_dtype(d, platform) for d in DTYPES} <= {"float32", "bfloat16"}
    assert resolve_dtype("auto", "tpu") == "bfloat16" and resolve_dtype("auto", "gpu") == "bfloat16"
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "0")  # an AVX2-only CPU: bf16 is no faster than float32 there
    assert resolve_dtype("auto", "cpu") == "float32" and resolve_dtype("bfloat16", "cpu") == "bfloat16"
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "1")  # AMX / AVX512-BF16: bf16 operands, float32 sums
    assert resolve_dtype("auto", "cpu") == "bfloat16" and resolve_dtype("float32", "cpu") == "float32"
    assert "bf16 units" in auto_dtype_reason("cpu") and "TPU" in auto_dtype_reason("tpu")
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "0")
    assert "no bf16 units" in auto_dtype_reason("cpu")


def test_methods_quantizations_formats_and_storage_classes_have_implementations():
    from gemma_jax.data.reader_registry import FILE_READERS
    from gemma_jax.models.memory_estimate import METHODS as ESTIMATED
    from gemma_jax.models.quantization import QUANTIZATION_MODES
    from gemma_jax.storage_cost import LIST_PRICES_USD_PER_GIB_MONTH
    from gemma_jax.train.setup import LORA_KINDS

    assert set(choices_of("method.kind")) == set(ESTIMATED) | {"dpo"} == set(LORA_KINDS) | {"full"}
    assert set(choices_of("method.quantization")) == set(QUANTIZATION_MODES)
    assert set(choices_of("data.format")) - {"auto"} == set(FILE_READERS)
    assert set(choices_of("checkpoint.storage_class")) == set(LIST_PRICES_USD_PER_GIB_MONTH)


@pytest.mark.parametrize("path", [p for p, s in field_specs().items() if s.bounded])
def test_validate_enforces_every_declared_bound(path):
    spec: FieldSpec = field_specs()[path]
    outside = spec.low - 1 if spec.low is not None else spec.high + 1
    cfg = apply_overrides(JobConfig(), [f"{path}={outside}"])
    if spec.only_for:
        cfg = apply_overrides(cfg, [f"method.kind={spec.only_for[0]}"])
    assert any(p.startswith(f"{path} must be {spec.bounds_text()}") for p in validate(cfg)), path


@pytest.mark.parametrize("path", list(validate.__globals__["CHOICES"]))
def test_validate_enforces_every_declared_choice(path):
    cfg = apply_overrides(JobConfig(), [f"{path}=no-such-choice"])
    assert any(p.startswith(f"{path} must be one of") for p in validate(cfg)), path


def test_init_config_writes_each_field_with_its_description(tmp_path):
    cfg = apply_overrides(JobConfig(), ["name=a # b", "eval.sample_prompts=['x: y', '# z']"])
    text = config_to_commented_yaml(cfg)
    for path, spec in field_specs().items():
        assert spec.help.split()[0] in text, path
    flat = re.sub(r"\n *# ", " ", text)  # comment lines joined back into sentences
    assert flat.count("One of:") == sum(spec.choices is not None for spec in field_specs().values())
    assert flat.count("Must be ") == sum(spec.bounded for spec in field_specs().values())
    (tmp_path / "job.yaml").write_text(text)
    assert load_config(tmp_path / "job.yaml") == cfg
