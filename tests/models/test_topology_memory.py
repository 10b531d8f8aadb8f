"""Topology presets, their automatic choice, and the per-device memory estimate on a mesh."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from abstract_models import abstract_backbone

from gemma_jax.cli import main
from gemma_jax.config import JobConfig, apply_overrides
from gemma_jax.cpu_features import cpu_has_bf16_units
from gemma_jax.models import registry
from gemma_jax.models.loading import build_backbone
from gemma_jax.models.memory_check import estimate_for_config, estimate_for_topology, fits, memory_problems
from gemma_jax.models.memory_estimate import GiB, estimate_memory, trainable_parameters_per_device, weight_bytes
from gemma_jax.models.quantization import quantize_base
from gemma_jax.models.weight_layout import KERNEL_AXES, lora_tensors, per_device
from gemma_jax.parallel import sharding_rules
from gemma_jax.parallel.topologies import TOPOLOGIES, get_topology, topology_for_devices
from gemma_jax.preflight import preflight_problems
from gemma_jax.train.flops import PEAK_TFLOPS

REQUIRED = ("v4-8", "v5e-8", "v5e-16", "v5e-32", "v5p-8", "v6e-8", "1xH100", "8xH100", "1xH200", "8xH200", "cpu")
ANCHORS = {"Gemma 2B": "gemma_2b_en", "Gemma 7B": "gemma_7b_en", "Gemma 2 9B": "gemma2_9b_en"}
ANCHORS |= {"Gemma 2 27B": "gemma2_27b_en", "Gemma 3 27B": "gemma3_27b_text"}


def _shape(name):
    return registry.find_variant(name).shape


# -- presets ------------------------------------------------------------------------------------------


def test_every_preset_is_consistent():
    assert set(REQUIRED) <= set(TOPOLOGIES)
    for name, topology in TOPOLOGIES.items():
        assert topology.name == name
        assert math.prod(topology.mesh) == topology.devices, name
        assert topology.memory_bytes > 0 and topology.devices % topology.hosts == 0, name
        assert topology.mesh == (1, topology.devices, 1)  # the config's default: fsdp over every device
        if topology.platform != "cpu":
            assert topology.peak_bf16_tflops > 0
            # the MFU meter reads the same spec sheet
            peaks = [p for kind, p in PEAK_TFLOPS.items() if kind.lower() in topology.device_kind.lower()]
            assert topology.peak_bf16_tflops == peaks[0], name


def test_preset_figures_are_the_public_ones():
    v4, v5e, v5p, v6e = (get_topology(n) for n in ("v4-8", "v5e-8", "v5p-8", "v6e-8"))
    assert (v4.devices, v4.memory_bytes, v4.peak_bf16_tflops) == (4, 32 * GiB, 275.0)  # 8 TensorCores = 4 chips
    assert (v5e.devices, v5e.memory_bytes, v5e.peak_bf16_tflops) == (8, 16 * GiB, 197.0)
    assert (v5p.devices, v5p.memory_bytes, v5p.peak_bf16_tflops) == (4, 95 * GiB, 459.0)
    assert (v6e.devices, v6e.memory_bytes, v6e.peak_bf16_tflops) == (8, 32 * GiB, 918.0)
    assert (get_topology("v5e-16").hosts, get_topology("v5e-32").hosts) == (4, 8)  # 4-chip TPU VMs
    assert 80e9 <= get_topology("1xH100").memory_bytes <= 81 * GiB  # "80 GB"
    assert 141e9 <= get_topology("8xH200").memory_bytes <= 141 * GiB  # "141 GB"
    assert get_topology("8xH100").devices == 8 and get_topology("1xH200").devices == 1


def test_gpu_jobs_get_the_allocators_share_of_the_card():
    h100 = get_topology("1xH100")
    assert h100.usable_bytes({}) == int(h100.memory_bytes * 0.75)
    assert h100.usable_bytes({"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.9"}) == int(h100.memory_bytes * 0.9)
    assert get_topology("v5e-8").usable_bytes({"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.5"}) == 16 * GiB


def test_names_are_case_blind_and_typos_are_named():
    assert get_topology("V5E-8") is TOPOLOGIES["v5e-8"] and get_topology("1xh100").chip == "H100"
    with pytest.raises(ValueError) as error:
        get_topology("v5e-9")
    message = str(error.value)
    assert "unknown topology 'v5e-9'" in message and "did you mean v5e-8?" in message
    assert all(name in message for name in REQUIRED)


def test_other_meshes_over_the_same_devices():
    v5e = get_topology("v5e-32")
    assert v5e.with_mesh(4, -1, 1).mesh == (4, 8, 1) and v5e.with_mesh(4, -1, 1).batch_shards == 32
    assert v5e.with_mesh(1, 16, 2).mesh == (1, 16, 2)
    for bad in ((3, -1, 1), (2, 2, 2), (-1, -1, 1), (0, 32, 1)):
        with pytest.raises(ValueError):
            v5e.with_mesh(*bad)


# -- automatic choice --------------------------------------------------------------------------------


def _devices(count, platform, kind, hosts=1, memory=None):
    def device(i):
        stats = (lambda: {"bytes_limit": memory}) if memory else None
        extra = {"memory_stats": stats} if stats else {}
        return SimpleNamespace(platform=platform, device_kind=kind, process_index=i * hosts // count, **extra)

    return [device(i) for i in range(count)]


@pytest.mark.parametrize(
    "count, platform, kind, hosts, expected",
    [
        (8, "tpu", "TPU v5 lite", 1, "v5e-8"),
        (16, "tpu", "TPU v5 lite", 4, "v5e-16"),
        (32, "tpu", "TPU v5e", 8, "v5e-32"),
        (4, "tpu", "TPU v5", 1, "v5p-8"),  # v5p reports "TPU v5": not to be taken for "TPU v5 lite"
        (4, "tpu", "TPU v5p", 1, "v5p-8"),
        (4, "tpu", "TPU v4", 1, "v4-8"),
        (8, "tpu", "TPU v6 lite", 1, "v6e-8"),
        (1, "gpu", "NVIDIA H100 80GB HBM3", 1, "1xH100"),
        (8, "gpu", "NVIDIA H100 80GB HBM3", 1, "8xH100"),
        (1, "gpu", "NVIDIA H200", 1, "1xH200"),
        (8, "gpu", "NVIDIA H200", 1, "8xH200"),
    ],
)
def test_the_preset_is_chosen_from_the_devices(count, platform, kind, hosts, expected):
    topology = topology_for_devices(_devices(count, platform, kind, hosts))
    assert topology.name == expected and topology.devices == count and topology.hosts == hosts
    assert topology.device_kind == kind and topology.memory_bytes == TOPOLOGIES[expected].memory_bytes


def test_counts_without_a_preset_take_the_chips_figures():
    v5e = topology_for_devices(_devices(4, "tpu", "TPU v5 lite"))
    assert (v5e.name, v5e.mesh, v5e.memory_bytes) == ("v5e-4", (1, 4, 1), 16 * GiB)
    v5p = topology_for_devices(_devices(8, "tpu", "TPU v5", hosts=2))
    assert (v5p.name, v5p.hosts, v5p.memory_bytes) == ("v5p-16", 2, 95 * GiB)
    pcie = topology_for_devices(_devices(2, "gpu", "NVIDIA H100 PCIe"))
    assert pcie.name == "2xH100" and pcie.chip == "H100"


def test_cpu_and_unknown_accelerators():
    cpu = topology_for_devices(_devices(4, "cpu", "cpu"))
    assert (cpu.name, cpu.devices, cpu.mesh, cpu.shared_memory) == ("cpu", 4, (1, 4, 1), True)
    assert topology_for_devices(jax.devices()).devices == len(jax.devices())  # the test host: 8 CPU devices
    a100 = topology_for_devices(_devices(2, "gpu", "NVIDIA A100-SXM4-40GB", memory=30 * GiB))
    assert (a100.name, a100.memory_bytes, a100.peak_bf16_tflops) == ("2xNVIDIA A100-SXM4-40GB", 30 * GiB, None)
    with pytest.raises(ValueError, match="no topology preset for 2 x NVIDIA A100"):
        topology_for_devices(_devices(2, "gpu", "NVIDIA A100-SXM4-40GB"))
    with pytest.raises(ValueError):
        topology_for_devices([])


# -- how the mesh splits the weights: the same as parallel/sharding_rules.py -----------------------------


class _Mesh:
    def __init__(self, data=1, fsdp=1, model=1):
        self.shape = {"data": data, "fsdp": fsdp, "model": model}


def _shard_count(spec, mesh) -> int:
    """How many shards `spec` cuts a variable into on `mesh`."""
    return int(np.prod([mesh.shape[a] for a in spec if a]))


def _bytes_per_device(variables, mesh) -> float:
    total = 0.0
    for v in variables:
        spec = sharding_rules.partition_spec(v.path, tuple(v.shape), mesh)
        total += np.prod(v.shape) * jnp.dtype(v.dtype).itemsize / _shard_count(spec, mesh)
    return total


MESHES = [(1, 8, 1), (2, 4, 2), (1, 3, 1), (1, 8, 4), (4, 1, 1)]


@pytest.mark.parametrize("name", ["gemma_2b_en", "gemma2_9b_en", "gemma3_4b", "gemma3_270m"])
def test_weights_per_device_follow_the_sharding_rules(name):
    shape = _shape(name)
    backbone = abstract_backbone(shape, "bfloat16")
    for data, fsdp, model in MESHES:
        expected = _bytes_per_device(backbone.weights, _Mesh(data, fsdp, model))
        assert weight_bytes(shape, "lora", "bfloat16", fsdp=fsdp, model=model) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("quantization", ["int8", "int4"])
def test_quantized_weights_per_device_follow_the_sharding_rules(quantization):
    backbone, _ = build_backbone("gemma2", 384, dtype="bfloat16", seed=0)
    quantize_base(backbone, quantization)
    shape = registry.shape_for_source("tiny:gemma2")
    for data, fsdp, model in MESHES:
        expected = _bytes_per_device(backbone.weights, _Mesh(data, fsdp, model))
        estimate = weight_bytes(shape, "qlora", "bfloat16", quantization, fsdp=fsdp, model=model)
        # int8 scales: one per output column, counted as replicated (the rules split some); a fraction of a percent
        assert estimate == pytest.approx(expected, rel=0.01 if quantization == "int8" else 1e-9)


def test_lora_factors_per_device_follow_the_sharding_rules():
    shape, rank, targets = _shape("gemma2_9b_en"), 16, tuple(KERNEL_AXES)
    kernels = shape.projection_shapes()
    prefix = {t: "attention/" if t in ("query", "key", "value", "attention_output") else "" for t in targets}
    for data, fsdp, model in MESHES:
        mesh, expected = _Mesh(data, fsdp, model), 0.0
        for target in targets:
            kernel = kernels[target]
            for factor, dims in (("a", kernel[:-1] + (rank,)), ("b", (rank, kernel[-1]))):
                path = f"decoder_block_0/{prefix[target]}{target}/lora_kernel_{factor}"
                spec = sharding_rules.partition_spec(path, dims, mesh)
                expected += shape.num_layers * np.prod(dims) / _shard_count(spec, mesh)
        assert per_device(lora_tensors(shape, rank, targets), fsdp, model) == pytest.approx(expected, rel=1e-9)


# -- the per-device estimate -----------------------------------------------------------------------------


def test_fsdp_cuts_weights_and_optimizer_state_the_data_axis_replicates_them():
    shape = _shape("gemma_7b_en")
    one = estimate_memory(shape, "full", platform="tpu", mesh=(1, 1, 1))
    fsdp8 = estimate_for_topology(shape, "full", get_topology("v5e-8"))
    data8 = estimate_memory(shape, "full", platform="tpu", mesh=(8, 1, 1))
    assert fsdp8.mesh == (1, 8, 1)
    # everything but the replicated norm scales is split 8 ways
    assert one.weights / 8 <= fsdp8.weights <= one.weights / 8 * 1.001
    assert one.trainable_state / 8 <= fsdp8.trainable_state <= one.trainable_state / 8 * 1.001
    assert (data8.weights, data8.trainable_state) == (one.weights, one.trainable_state)
    # the 8 rows are split over data x fsdp either way: one row per device
    assert fsdp8.rows_per_device == data8.rows_per_device == 1 and one.rows_per_device == 8
    assert fsdp8.activations < one.activations / 4
    assert fsdp8.total < data8.total < one.total


def test_lora_state_is_split_too_and_rows_round_up():
    shape = _shape("gemma2_9b_en")
    one = trainable_parameters_per_device(shape, "lora", 8, ("query", "value"))
    assert one == shape.lora_parameters(8, ("query", "value"))
    # query/value A factors split over fsdp, the B factors ([rank, head_dim]) are replicated
    assert one / 8 < trainable_parameters_per_device(shape, "lora", 8, ("query", "value"), fsdp=8) < one / 4
    assert estimate_memory(shape, batch_size=8, mesh=(1, 32, 1), platform="tpu").rows_per_device == 1
    assert estimate_memory(shape, batch_size=12, mesh=(2, 4, 1), platform="tpu").rows_per_device == 2


@pytest.mark.parametrize("topology", ["v4-8", "v5e-8", "v5e-32", "v5p-8", "v6e-8", "1xH100", "8xH200", "cpu"])
@pytest.mark.parametrize("name", list(ANCHORS.values()))
def test_qlora_is_smaller_than_lora_is_smaller_than_full(topology, name):
    totals = {
        m: estimate_for_topology(_shape(name), m, get_topology(topology)).total for m in ("full", "lora", "qlora")
    }
    assert totals["qlora"] < totals["lora"] < totals["full"]


def _cpu_only_bytes(shape) -> float:
    """With bf16 units: the MLP's float32 sums of every block (8 x 256 tokens); without: float32 weights."""
    if cpu_has_bf16_units():
        return shape.num_layers * 8 * 256 * 2 * shape.ffn_dim * 4
    return shape.parameter_count() * 4


def test_accelerator_estimates_drop_the_cpu_terms_and_say_what_is_borrowed():
    shape = _shape("gemma2_2b_en")
    cpu = estimate_memory(shape, "lora", platform="cpu")
    for platform in ("tpu", "gpu"):
        accelerator = estimate_memory(shape, "lora", platform=platform)
        assert accelerator.runtime == 0 < cpu.runtime
        # XLA:CPU's float32 tensors of a bf16 step and relayouts of the attention kernels are CPU-only
        assert cpu.activations - accelerator.activations > _cpu_only_bytes(shape) * 0.9
        assert accelerator.notes[0] == f"activation factor fitted on XLA:CPU; not yet measured on {platform.upper()}"
    assert cpu.notes == ()
    # gathered block weights exist only where fsdp splits them (or QLoRA dequantizes them)
    assert estimate_memory(shape, "lora", platform="tpu", mesh=(1, 8, 1)).gathered > 0
    assert estimate_memory(shape, "lora", platform="tpu", mesh=(8, 1, 1)).gathered == 0
    assert estimate_memory(shape, "qlora", platform="tpu").gathered > 0


# -- the config check on accelerators -----------------------------------------------------------------------


def _cfg(*overrides):
    return apply_overrides(JobConfig(), ["model.source=gemma2_9b_en", "model.dtype=bfloat16", *overrides])


def test_the_config_check_uses_the_configs_mesh():
    fsdp = estimate_for_config(_cfg(), platform="tpu", devices=8)
    mixed = estimate_for_config(_cfg("mesh.data=2"), platform="tpu", devices=8)
    assert (fsdp.mesh, mixed.mesh) == ((1, 8, 1), (2, 4, 1))
    assert mixed.weights > fsdp.weights and fsdp.rows_per_device == mixed.rows_per_device == 1
    assert estimate_for_config(_cfg(), platform="cpu", devices=8).mesh == (1, 1, 1)  # CPU: the whole job


def test_unmeasured_backends_refuse_only_what_the_shapes_rule_out():
    cfg = _cfg("method.kind=lora")
    estimate = estimate_for_config(cfg, platform="gpu", devices=1)
    between = (estimate.exact + estimate.total) // 2
    assert fits(estimate, between) and not fits(estimate, estimate.exact - 1)
    assert memory_problems(cfg, between, platform="gpu") == []
    assert preflight_problems(cfg, available_memory=between, memory_platform="gpu", device_count=1) == []
    [problem] = memory_problems(cfg, estimate.exact - 1, platform="gpu")
    assert "not yet measured on GPU" in problem and "per device" in problem
    on_cpu = estimate_for_config(cfg, platform="cpu")
    assert not fits(on_cpu, on_cpu.total - 1)  # measured there: the whole estimate counts


# -- gemma-jax models --topology --------------------------------------------------------------------------


def test_models_on_a_topology_prints_per_device_memory_and_fits(capsys):
    assert main(["models", "--topology", "v5e-8"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Topology v5e-8: 8 x TPU v5e")
    assert "batch 8 rows x 256 tokens" in out and "1 row per device" in out
    assert "activation factor fitted on XLA:CPU; not yet measured on TPU" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for name in ANCHORS.values():
        assert name in rows
    # Gemma 2B: 2.5B parameters; full fine-tuning holds ~24 bytes each, split 8 ways, well within 16 GiB
    assert rows["gemma_2b_en"].endswith("all")
    # Gemma 2 27B full: ~24 bytes x 27B / 8 > 16 GiB
    assert rows["gemma2_27b_en"].endswith("LoRA, QLoRA")
    assert rows["gemma4_31b"].endswith("-")


def test_models_on_a_topology_as_json(capsys):
    assert main(["models", "--topology", "1xH100", "--json", "--batch-size", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["topology"]["name"] == "1xH100" and report["assumed"]["batch_size"] == 2
    assert any("not yet measured on GPU" in note for note in report["notes"])
    usable = report["usable_bytes_per_device"]
    by_name = {row["name"]: row for row in report["models"]}
    for name in ANCHORS.values():
        row = by_name[name]
        for method, total in row["memory_bytes"].items():
            assert row["fits"][method] == (total <= usable)
            assert total == sum(row["memory_parts"][method].values())
    assert by_name["gemma_2b_en"]["fits"] == {"full": True, "lora": True, "qlora": True}
    assert by_name["gemma2_27b_en"]["fits"]["full"] is False


def test_models_topology_list_and_mesh(capsys):
    assert main(["models", "--topology", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(f"\n{name} " in listing for name in REQUIRED if name != "v4-8") and listing.startswith("name")
    assert main(["models", "--topology", "list", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == list(TOPOLOGIES)
    assert main(["models", "--topology", "v5e-32", "--mesh", "4,8,1"]) == 0
    assert "mesh data=4 fsdp=8 model=1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--topology", "v5e-9"], "gemma-jax models: unknown topology 'v5e-9'; did you mean v5e-8?"),
        (["--topology", "v5e-8", "--mesh", "3,-1,1"], "gemma-jax models: mesh (3, -1, 1) does not divide"),
        (["--topology", "v5e-8", "--mesh", "two"], "gemma-jax models: --mesh takes DATA,FSDP,MODEL"),
        (["--mesh", "1,8,1"], "gemma-jax models: --mesh needs --topology"),
    ],
)
def test_bad_topologies_are_one_line_errors(capsys, argv, message):
    assert main(["models", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(message)
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err


def test_gemma_7b_lora_on_v5e_8_by_hand():
    """The parts of one estimate recomputed from Gemma 7B's published shape (28 layers, hidden 3072,
    16 heads of 256, ffw 24576, vocabulary 256,000)."""
    lora = estimate_for_topology(_shape("gemma_7b_en"), "lora", get_topology("v5e-8"))
    block = 4 * 16 * 3072 * 256 + 3 * 3072 * 24576  # q, k, v, output + three feed-forward kernels
    norms = 28 * 2 * 3072 + 3072  # two RMS norm scales per block + the final one: replicated
    params = 256_000 * 3072 + 28 * block
    assert lora.weights == params * 2 // 8 + norms * 2
    assert lora.gathered == 2 * block * 2  # two blocks of bf16 kernels, whole
    # one row per device; the embedding padded to 32 chunks of 8192 rows is split 8 ways as well
    one_row = estimate_memory(_shape("gemma_7b_en"), "lora", batch_size=1, platform="tpu")
    padded_copy = 32 * 8192 * 3072 * 2
    assert lora.activations == pytest.approx(one_row.activations - padded_copy * 7 / 8, abs=2)
    trainable = 28 * 2 * (16 * 3072 * 8 + 8 * 256)  # query and value: A [16, 3072, 8] split 8 ways, B [8, 256] whole
    assert lora.trainable_state == (28 * 2 * 16 * 3072 * 8 // 8 + 28 * 2 * 8 * 256) * (4 + 2 * 4 + 2 * 4 + 2)
    assert lora.trainable_params == trainable
