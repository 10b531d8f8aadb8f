"""The memory estimate against the bytes Keras allocates, XLA's compiled steps, and measured peaks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import psutil
import pytest
from abstract_models import abstract_backbone

from gemma_jax.config import JobConfig, apply_overrides, validate
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import build_backbone
from gemma_jax.models.memory_estimate import GB, activation_bytes, estimate_memory, weight_bytes
from gemma_jax.models.quantization import quantize_base
from gemma_jax.models.registry import find_variant, shape_for_source
from gemma_jax.models.variant_shape import GemmaShape
from gemma_jax.preflight import preflight_problems
from gemma_jax.train.setup import build_training

PROBE = Path(__file__).with_name("memory_probe.py")


def _stored_bytes(variables) -> int:
    return sum(int(np.prod(v.shape)) * jnp.dtype(v.dtype).itemsize for v in variables)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("method, quantization", [("lora", None), ("qlora", "int8"), ("qlora", "int4")])
def test_weight_bytes_equal_what_keras_stores(dtype, method, quantization):
    arch = "gemma2"
    backbone, _ = build_backbone(arch, 384, dtype=dtype, seed=0)
    if quantization:
        quantize_base(backbone, quantization)
    shape = shape_for_source(f"tiny:{arch}")
    assert weight_bytes(shape, method, dtype, quantization or "int4") == _stored_bytes(backbone.weights)


def test_trainable_parameters_equal_the_steps_trainable_variables():
    cfg = apply_overrides(JobConfig(), ["method.lora_rank=4", "method.lora_targets=[query,ffw_linear]"])
    backbone, family = build_backbone("gemma3", 384, dtype="float32", seed=0)
    setup = build_training(cfg, LoadedModel(backbone, None, "tiny:gemma3", family, 1024), 4, devices=jax.devices()[:1])
    shape = shape_for_source("tiny:gemma3")
    estimate = estimate_memory(shape, "lora", dtype="float32", lora_rank=4, lora_targets=("query", "ffw_linear"))
    assert estimate.trainable_params == sum(int(np.prod(v.shape)) for v in setup.decoder.trainable_variables)
    full = estimate_memory(shape, "full", dtype="float32")
    assert full.trainable_params == shape.parameter_count()


def _compiled_temp_bytes(shape: GemmaShape, dtype: str, batch: int, sequence: int, remat: bool = False) -> int:
    """XLA's temporary buffer for our LoRA step, compiled from abstract arguments: no weights allocated."""
    backbone = abstract_backbone(shape, dtype)
    cfg = apply_overrides(JobConfig(), [f"model.remat={str(remat).lower()}"])
    model = LoadedModel(backbone, None, "abstract", shape.backbone, shape.context_length)
    setup = build_training(cfg, model, 10, devices=jax.devices()[:1])
    trainable = [jax.ShapeDtypeStruct(tuple(v.shape), jnp.float32) for v in setup.decoder.trainable_variables]
    frozen = [jax.ShapeDtypeStruct(tuple(v.shape), v.dtype) for v in setup.decoder.non_trainable_variables]
    opt_state = jax.eval_shape(setup.optimizer.init, trainable)
    capacity = 64 * -(-batch * sequence // 64)
    ints = jax.ShapeDtypeStruct((1, batch, sequence), jnp.int32)
    step_batch = {key: ints for key in ("token_ids", "segment_ids", "positions", "targets")}
    step_batch["loss_index"] = jax.ShapeDtypeStruct((1, 1, capacity), jnp.int32)
    step_batch["loss_valid"] = jax.ShapeDtypeStruct((1, 1, capacity), jnp.bool_)
    compiled = setup.steps.train.lower(trainable, frozen, opt_state, step_batch).compile()
    return compiled.memory_analysis().temp_size_in_bytes


SMALL = GemmaShape("gemma3", 32768, 4, 512, 4, 1, 128, 2048, 8192, post_norms=True, query_key_norm=True)
SMALL_GEMMA2 = GemmaShape(
    "gemma", 40000, 3, 384, 4, 2, 96, 1536, 8192, post_norms=True, attention_soft_cap=50.0, final_soft_cap=30.0
)


@pytest.mark.parametrize(
    "shape, dtype, batch, sequence, remat",
    [
        (SMALL, "float32", 4, 256, False),
        (SMALL, "float32", 1, 1024, False),
        (SMALL, "bfloat16", 4, 256, False),
        (SMALL, "float32", 4, 256, True),
        (SMALL, "bfloat16", 2, 512, True),
        (SMALL_GEMMA2, "float32", 2, 512, False),
    ],
)
def test_activation_model_matches_compiled_steps(shape, dtype, batch, sequence, remat):
    compiled = _compiled_temp_bytes(shape, dtype, batch, sequence, remat)
    estimate = activation_bytes(
        shape, batch_size=batch, sequence_length=sequence, dtype=dtype, method="lora", remat=remat, platform="cpu"
    )
    assert abs(estimate - compiled) <= 0.2 * compiled, (estimate / GB, compiled / GB)


def _cfg(*overrides):
    return apply_overrides(JobConfig(), ["model.source=gemma2_9b_en", "model.dtype=bfloat16", *overrides])


def test_validator_refuses_a_job_that_does_not_fit_and_says_what_would():
    cfg = _cfg("method.kind=full", "train.batch_size=8", "model.remat=false")
    need = estimate_memory(find_variant("gemma2_9b_en").shape, "full", dtype="bfloat16").total
    lora = estimate_memory(find_variant("gemma2_9b_en").shape, "lora", dtype="bfloat16").total
    problems = preflight_problems(cfg, available_memory=int((need + lora) / 2))
    assert len(problems) == 1
    message = problems[0]
    assert f"needs about {need / GB:.1f} GB" in message and "gemma2_9b_en" in message
    assert "method.kind=lora" in message and "method.kind=qlora" in message
    assert preflight_problems(cfg, available_memory=need + 1) == []
    # Without a memory figure, or for a model whose shape is unknown before loading, nothing changes.
    assert validate(cfg) == []
    assert preflight_problems(_cfg("model.source=/no/such/preset"), available_memory=1) == []


def test_validator_suggests_smaller_microbatches_for_long_rows():
    cfg = _cfg("model.source=gemma3_1b", "train.batch_size=32", "data.sequence_length=2048")
    problems = preflight_problems(cfg, available_memory=int(24 * GB))
    assert problems and "train.grad_accum_steps=32" in problems[0]
    per_row = apply_overrides(cfg, ["train.grad_accum_steps=32"])
    assert preflight_problems(per_row, available_memory=int(24 * GB)) == []


def _measure(source: str, dtype: str, batch: int, sequence: int, *flags: str) -> dict:
    """Peak RSS of two training steps in a fresh one-device process (tests/models/memory_probe.py)."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f)
    command = [sys.executable, str(PROBE), source, dtype, "lora", str(batch), str(sequence), *flags]
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize(
    "source, dtype, batch, sequence",
    [("gemma3_270m", "float32", 4, 256), ("random:gemma_2b", "float32", 1, 128)],
)
def test_estimate_is_within_25_percent_of_the_measured_peak(source, dtype, batch, sequence):
    estimate = estimate_memory(
        shape_for_source(source), "lora", batch_size=batch, sequence_length=sequence, dtype=dtype
    )
    available = psutil.virtual_memory().available
    if estimate.total + 1.0 * GB > available:  # the probe is a separate process: room for it, plus 1 GB
        pytest.skip(f"needs about {estimate.total / GB:.1f} GB free to measure; {available / GB:.1f} GB is")
    measured = _measure(source, dtype, batch, sequence)
    assert all(np.isfinite(measured["losses"]))
    ratio = estimate.total / measured["peak_bytes"]
    print(f"{source}: estimate {estimate.total / GB:.2f} GB, measured {measured['peak_bytes'] / GB:.2f} GB")
    assert 0.75 <= ratio <= 1.25, (estimate.as_dict(), measured)


def test_validator_combines_changes_when_none_fits_alone():
    overrides = ["model.source=gemma3_1b", "method.kind=full", "model.remat=true", "train.batch_size=4"]
    cfg = _cfg(*overrides, "data.sequence_length=512")
    shape = find_variant("gemma3_1b").shape
    common = {"sequence_length": 512, "dtype": "bfloat16", "remat": True}
    one_row_lora = estimate_memory(shape, "lora", batch_size=1, **common).total
    assert one_row_lora < min(
        estimate_memory(shape, "full", batch_size=1, **common).total,
        estimate_memory(shape, "lora", batch_size=4, **common).total,
    )
    [message] = preflight_problems(cfg, available_memory=int(one_row_lora * 1.01))
    assert "train.grad_accum_steps=4 and method.kind=lora (~" in message


def test_auto_remat_turns_on_only_where_a_step_would_not_fit_without_it():
    from gemma_jax.models.memory_check import choose_remat, estimate_for_config

    cfg = _cfg("method.kind=lora", "train.batch_size=8", "data.sequence_length=1024")
    assert cfg.model.remat is None  # auto is the default
    plain = estimate_for_config(cfg, remat=False).total
    recomputed = estimate_for_config(cfg, remat=True).total
    assert recomputed < plain
    assert choose_remat(cfg, int(plain * 1.1))[0] is False
    on, why = choose_remat(cfg, int((plain + recomputed) / 2))
    assert on and why.startswith("auto: on (a step would need about")
    # Auto counts on remat, so a job that fits only with it is not refused, and remat is not advised.
    assert preflight_problems(cfg, available_memory=int((plain + recomputed) / 2)) == []
    [message] = preflight_problems(cfg, available_memory=int(recomputed * 0.5))
    assert "model.remat=true" not in message
    # Set by the user: kept, whatever the estimate says.
    assert choose_remat(_cfg("model.remat=false"), 1) == (False, "set in the config")
    assert choose_remat(_cfg("model.remat=true"), 10**15) == (True, "set in the config")
    unknown = apply_overrides(JobConfig(), ["model.source=/no/such/preset"])
    assert choose_remat(unknown, 1) == (False, "auto: off (the model's shape is known only once loaded)")
    assert "XLA:CPU's factors" in choose_remat(cfg, 10**15, platform="tpu", devices=8)[1]


def test_an_accelerator_with_room_for_a_bigger_batch_says_so_and_keeps_the_configured_one():
    from gemma_jax.models.memory_check import bigger_batch_note, estimate_for_config, largest_batch

    cfg = _cfg("method.kind=lora", "train.batch_size=8", "data.sequence_length=512", "model.dtype=bfloat16")
    at = {rows: estimate_for_config(cfg, platform="gpu", rows=rows).total for rows in (8, 16, 32, 64)}
    room = (at[32] + at[64]) // 2  # 32 rows fit, 64 do not
    assert largest_batch(cfg, room, platform="gpu") == 32
    note = bigger_batch_note(cfg, room, platform="gpu")
    assert note.startswith("this GPU has room for batch 32 (train.batch_size=32), against the configured 8")
    assert note.endswith("the run keeps batch 8")
    # Less than twice the batch, or a CPU (where a bigger batch is no faster per example): nothing to say.
    assert bigger_batch_note(cfg, (at[8] + at[16]) // 2, platform="gpu") is None
    assert bigger_batch_note(cfg, 10**13, platform="cpu") is None
    # Microbatches: multiples of grad_accum_steps; over 8 devices, multiples of 8.
    accumulated = _cfg("method.kind=lora", "train.batch_size=8", "train.grad_accum_steps=4", "model.dtype=bfloat16")
    assert largest_batch(accumulated, 10**13, platform="gpu") == 256
    assert largest_batch(accumulated, 1, platform="gpu") is None
    assert largest_batch(_cfg("model.source=/no/such/preset"), 10**13, platform="gpu") is None
