"""QLoRA: an int8/int4 frozen base under f32 LoRA, through the real sharded step, trainer and checkpoints."""

import jax
import numpy as np
import pytest
from engine_helpers import fast_config, train_repeatedly
from jax.sharding import Mesh

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.config import validate
from gemma_jax.config.job_config import CheckpointConfig
from gemma_jax.models.generation import Generator
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import ModelLoadError, load_model
from gemma_jax.models.lora import lora_layers, merged_copy
from gemma_jax.models.quantization import block_projections, quantization_mode, quantize_base
from gemma_jax.parallel.sharding_rules import partition_spec
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.packed_decoder import PackedDecoder
from gemma_jax.train.run_model import load_run_model
from gemma_jax.train.setup import build_training
from gemma_jax.train.trainer import Trainer, train_run

TEXTS = ["the quick brown fox jumps over the lazy dog", "pack my box with five dozen liquor jugs"] * 40
STEP_CONFIG = (
    "model.source=tiny:gemma",
    "mesh.fsdp=4",
    "mesh.model=2",
    "optimizer.learning_rate=1e-2",
    "method.lora_targets=[query,value,attention_output,ffw_gating,ffw_linear]",
)
# |QLoRA loss - LoRA loss| on the first step (same weights before quantization, same batch).
LOSS_TOLERANCE = {"int8": 3e-3, "int4": 2e-2}


def _setup(tmp_path, *overrides):
    cfg = fast_config(tmp_path, *STEP_CONFIG, *overrides)
    return build_training(cfg, load_model(cfg.model.source, vocab_texts=TEXTS), total_steps=10)


@pytest.fixture(scope="module")
def lora_losses(tmp_path_factory):
    return train_repeatedly(_setup(tmp_path_factory.mktemp("lora"), "method.kind=lora"), 3)[1]


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_qlora_step_tracks_lora_and_trains_with_a_quantized_sharded_base(tmp_path, lora_losses, mode):
    setup = _setup(tmp_path, "method.kind=qlora", f"method.quantization={mode}")
    state, losses = train_repeatedly(setup, 3)
    assert abs(losses[0] - lora_losses[0]) < LOSS_TOLERANCE[mode], (losses, lora_losses)
    assert losses[-1] < losses[0] - 0.1, losses

    frozen = {v.path: (v, x) for v, x in zip(setup.decoder.non_trainable_variables, state.frozen)}
    trainable = {v.path.rsplit("/", 1)[-1] for v in setup.decoder.trainable_variables}
    assert trainable == {"lora_kernel_a", "lora_kernel_b"}
    assert all(str(x.dtype) == "float32" for x in state.trainable)
    for layer in block_projections(setup.model.backbone):
        array = frozen[layer.path + "/kernel"][1]
        assert array.dtype == np.int8  # on device, as the step reads it
        if mode == "int4":  # two 4-bit values per byte: [input rows, ceil(output columns / 2)]
            rows, columns = layer._int4_rows, layer._int4_unpacked_column_size
            assert rows * columns == np.prod(layer.original_kernel_shape)
            assert array.shape == (rows, -(-columns // 2))
        assert str(frozen[layer.path + "/kernel_scale"][1].dtype) == "float32"
    # The query kernel is split over both mesh axes, and the step leaves the base as it was.
    variable, query = frozen["decoder_block_0/attention/query/kernel"]
    spec = ("fsdp", "model") if mode == "int4" else ("model", "fsdp", None)
    assert tuple(query.sharding.spec) == spec
    np.testing.assert_array_equal(np.asarray(query), np.asarray(variable.value))


@pytest.mark.parametrize("mode, tolerance", [("int8", 0.05), ("int4", 0.5)])
def test_quantized_forward_stays_close_to_the_float_model(mode, tolerance):
    ids = np.random.RandomState(1).randint(6, 300, size=(2, 24)).astype("int32")
    segments, positions = np.ones_like(ids), np.arange(24)[None].repeat(2, 0).astype("int32")

    def hidden(model):
        return np.asarray(PackedDecoder(model.backbone).hidden_states(ids, segments, positions))

    reference = hidden(load_model("tiny:gemma3", vocab_texts=TEXTS))
    model = load_model("tiny:gemma3", vocab_texts=TEXTS)
    assert quantize_base(model.backbone, mode) == 7 * model.backbone.num_layers
    assert quantization_mode(model.backbone) == mode
    error = np.linalg.norm(hidden(model) - reference) / np.linalg.norm(reference)
    assert error < tolerance, error
    # The measure can fail: a model with other weights is far away.
    other = hidden(load_model("tiny:gemma3", vocab_texts=TEXTS, seed=1))
    assert np.linalg.norm(other - reference) / np.linalg.norm(reference) > 1.0
    with pytest.raises(ValueError, match="already quantized"):
        quantize_base(model.backbone, mode)


def test_sharding_rules_cover_quantized_variables():
    mesh = Mesh(np.array(jax.devices()).reshape(1, 4, 2), ("data", "fsdp", "model"))
    query = "decoder_block_0/attention/query"
    # int8: the kernel keeps its float shape and rule; per-channel scales are replicated.
    assert tuple(partition_spec(f"{query}/kernel", (4, 640, 256), mesh)) == ("model", "fsdp", None)
    assert tuple(partition_spec(f"{query}/kernel_scale", (1, 1, 4, 256), mesh)) == (None,) * 4
    # int4: [hidden, heads*head_dim/2] packed kernel; scale and zero point [groups, columns] follow its columns.
    assert tuple(partition_spec(f"{query}/kernel", (640, 512), mesh)) == ("fsdp", "model")
    assert tuple(partition_spec(f"{query}/kernel_scale", (5, 1024), mesh)) == (None, "model")
    assert tuple(partition_spec(f"{query}/kernel_zero", (5, 1024), mesh)) == (None, "model")
    assert tuple(partition_spec(f"{query}/g_idx", (640,), mesh)) == (None,)
    out = "decoder_block_3/attention/attention_output"
    assert tuple(partition_spec(f"{out}/kernel", (1024, 320), mesh)) == ("model", "fsdp")
    assert tuple(partition_spec(f"{out}/kernel_scale", (8, 640), mesh)) == (None, "fsdp")
    # Shards must divide: an odd packed width (or group count) is replicated instead.
    assert tuple(partition_spec("decoder_block_0/ffw_linear/kernel", (2048, 321), mesh)) == ("model", None)
    # LoRA factors of a packed projection still follow the float kernel's rule.
    assert tuple(partition_spec(f"{query}/lora_kernel_a", (4, 640, 8), mesh)) == ("model", "fsdp", None)
    assert tuple(partition_spec(f"{query}/lora_kernel_b", (8, 256), mesh)) == (None, None)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["method.kind=full", "method.quantization=int4"], "cannot be used with method.kind=full"),
        (["method.kind=lora", "method.quantization=int8"], "only applies to method.kind=qlora"),
        (["method.kind=qlora", "method.quantization=int3"], "method.quantization must be one of int8 | int4"),
        (["method.kind=qlora", "method.lora_rank=0"], "method.lora_rank must be at least 1"),
        (["method.kind=qlorra"], "did you mean 'qlora'"),
    ],
)
def test_bad_qlora_combinations_are_config_errors(tmp_path, overrides, expected):
    problems = validate(fast_config(tmp_path, *overrides))
    assert len(problems) == 1 and expected in problems[0], problems


def test_qlora_configs_validate(tmp_path):
    assert validate(fast_config(tmp_path, "method.kind=qlora")) == []
    cfg = fast_config(tmp_path, "method.kind=qlora", "method.quantization=int4")
    assert validate(cfg) == [] and cfg.method.base_quantization == "int4"
    assert fast_config(tmp_path, "method.kind=qlora").method.base_quantization == "int8"
    assert fast_config(tmp_path, "method.kind=lora").method.base_quantization is None


def _losses(store) -> dict[int, float]:
    records, _ = store.read_metrics()
    return {r["step"]: r["loss"] for r in records if "loss" in r}


@pytest.mark.slow
def test_qlora_run_trains_checkpoints_resumes_and_generates(tmp_path):
    overrides = (
        "model.source=tiny:gemma",
        "method.kind=qlora",
        "method.quantization=int4",
        "method.lora_targets=[query,value,ffw_linear]",
        "optimizer.learning_rate=1e-2",
        "train.max_steps=4",
        "checkpoint.every_steps=100",
    )
    reference = RunStore.create(fast_config(tmp_path / "a", *overrides))
    assert train_run(str(reference.path), progress=False) == "completed"

    store = RunStore.create(fast_config(tmp_path / "b", *overrides))
    assert Trainer(store, progress=False, abort_after_step=2).run() == "aborted"
    assert train_run(str(store.path), progress=False) == "completed"
    # The resumed run rebuilt the same int4 base from config.yaml and continued exactly.
    expected, resumed = _losses(reference), _losses(store)
    assert sorted(resumed) == sorted(expected) == [1, 2, 3, 4]
    for step, loss in expected.items():
        assert abs(resumed[step] - loss) < 1e-5, step
    assert expected[4] < expected[1]

    assert "frozen" not in CheckpointStore(str(store.path / "checkpoints"), CheckpointConfig()).item_names(4)

    model, step = load_run_model(str(store.path))
    assert step == 4 and quantization_mode(model.backbone) == "int4"
    assert all(np.any(np.asarray(layer.lora_kernel_b.value)) for layer in lora_layers(model.backbone))
    [text] = Generator(model, max_length=64).generate(["the quick brown"], max_new_tokens=6)
    # The float export of the run (dequantized base + folded adapters) generates the same greedy text.
    exported = LoadedModel(merged_copy(model.backbone), model.tokenizer, model.source, model.family, 64)
    assert Generator(exported, max_length=64).generate(["the quick brown"], max_new_tokens=6) == [text]

    config = store.path / "config.yaml"  # a run whose config no longer matches its checkpoints is refused
    config.write_text(config.read_text().replace("kind: qlora", "kind: lora").replace("quantization: int4", ""))
    with pytest.raises(ModelLoadError, match="trained with method qlora"):
        load_run_model(str(store.path))
