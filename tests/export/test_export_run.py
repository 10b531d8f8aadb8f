"""`python -m gemma_jax.export`: the adapter and the bf16 Keras preset in folders of their own, each with
its config, README (model card and the run's chat template), lineage and export.json, all in its zip."""

import json
import os
import re
import sys
import zipfile
from pathlib import Path

import h5py
import keras_hub
import numpy as np
import pytest
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run

from gemma_jax.cli import main as cli_main
from gemma_jax.data.chat_template import prompt_text
from gemma_jax.export import list_exports
from gemma_jax.export.__main__ import main as export_main
from gemma_jax.models.loading import load_model
from gemma_jax.train.run_model import load_run_model

pytestmark = pytest.mark.slow  # a trained tiny run, presets written and read back: about a minute


def _logits(backbone, ids: np.ndarray) -> np.ndarray:
    hidden = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    return np.asarray(backbone.token_embedding(hidden, reverse=True), dtype="float32")


def _close_in_bf16(ours: np.ndarray, expected: np.ndarray) -> None:
    """bfloat16 weights keep 8 bits of mantissa: the logits agree to about 1% of their range."""
    np.testing.assert_allclose(ours, expected, atol=0.03 * float(np.abs(expected).max()), rtol=0)
    assert (ours.argmax(-1) == expected.argmax(-1)).mean() > 0.9


def _code_block(readme: str, heading: str) -> str:
    return re.search(rf"## {heading}.*?```python\n(.*?)```", readme, re.DOTALL).group(1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def tuned(run_dir):
    model, _ = load_run_model(str(run_dir))
    ids = np.random.RandomState(0).randint(6, 200, size=(2, 20)).astype("int32")
    return model, ids, _logits(model.backbone, ids)


def test_export_writes_the_adapter_and_a_bf16_merged_model_each_with_zip_readme_and_manifest(run_dir, tuned):
    model, ids, expected = tuned
    assert export_main([str(run_dir)]) == 0
    adapter, merged = run_dir / "export" / "step-3-adapter", run_dir / "export" / "step-3-keras"
    settings = json.loads((adapter / "adapter_config.json").read_text())
    assert settings["rank"] == 8 and settings["step"] == 3 and settings["base_model"] == "tiny:gemma3"
    tensors = load_file(str(adapter / "adapter.safetensors"))
    assert len(tensors) == 2 * len(settings["layers"]) > 0
    assert any(np.abs(v).max() > 0 for k, v in tensors.items() if k.endswith("lora_kernel_b"))  # trained B
    assert (adapter / "config.yaml").read_text() == (run_dir / "config.yaml").read_text()

    # The merged preset: bfloat16 on disk and in its config, the fine-tuned model's logits, and it generates.
    preset = merged / "preset"
    sizes = []

    def itemsize(_name, item) -> None:  # visititems stops at the first callback that returns something
        if isinstance(item, h5py.Dataset):
            sizes.append(item.dtype.itemsize)

    with h5py.File(preset / "model.weights.h5") as weights:
        weights.visititems(itemsize)
    assert sizes and set(sizes) == {2}
    assert json.loads((preset / "config.json").read_text())["config"]["dtype"]["config"]["name"] == "bfloat16"
    causal_lm = keras_hub.models.Gemma3CausalLM.from_preset(str(preset), dtype="bfloat16")
    assert {v.dtype for v in causal_lm.backbone.weights} == {"bfloat16"}
    _close_in_bf16(_logits(causal_lm.backbone, ids), expected)
    assert causal_lm.preprocessor.tokenizer.id_to_token(int(ids[0, 0])) == model.tokenizer.id_to_piece(int(ids[0, 0]))
    assert isinstance(causal_lm.generate(prompt_text("What is the capital of Norway?"), max_length=24), str)
    _close_in_bf16(_logits(load_model(str(preset)).backbone, ids), expected)  # gemma-jax's own loader

    # Each zip holds its folder: files, config, README and export.json, under one top folder.
    for folder, kind, inside in ((adapter, "adapter", "adapter.safetensors"), (merged, "keras", "preset/config.json")):
        manifest = json.loads((folder / "export.json").read_text())
        assert manifest["kind"] == kind and manifest["step"] == 3 and manifest["archive"] == f"tiny-step-3-{kind}.zip"
        with zipfile.ZipFile(folder / manifest["archive"]) as bundle:
            names = set(bundle.namelist())
            top = f"tiny-step-3-{kind}/"
            assert {
                top + n for n in ("export.json", "README.md", "config.yaml", "lineage.json", "serving.json", inside)
            } <= names
            assert json.loads(bundle.read(top + "export.json")) == manifest
            readme = bundle.read(top + "README.md").decode()
        # the chat template the run trained with, as training's own function renders it
        assert repr(prompt_text("What is the capital of Norway?")) in readme and "<end_of_turn>" in readme
    assert json.loads((merged / "export.json").read_text())["dtype"] == "bfloat16"

    listed = list_exports(run_dir)
    assert [(e["step"], e["kind"]) for e in listed] == [(3, "adapter"), (3, "keras")]
    assert all(e["zip_size"] > 0 and Path(e["zip"]).is_file() for e in listed)
    names = {f["name"] for f in listed[0]["files"]}
    assert {"config.yaml", "README.md", "export.json", "adapter_config.json", "tiny-step-3-adapter.zip"} <= names


def test_the_readmes_loading_snippets_run_as_written(run_dir, tuned, monkeypatch):
    _, ids, expected = tuned
    if not (run_dir / "export" / "step-3-adapter").is_dir():
        assert export_main([str(run_dir)]) == 0
    folder = run_dir / "export" / "step-3-adapter"
    monkeypatch.chdir(folder)  # the README says: run it in this folder
    namespace: dict = {}
    exec(_code_block((folder / "README.md").read_text(), "Loading it"), namespace)  # noqa: S102 (our README)
    np.testing.assert_allclose(_logits(namespace["model"].backbone, ids), expected, atol=1e-4, rtol=0)

    folder = run_dir / "export" / "step-3-keras"
    monkeypatch.chdir(folder)
    namespace = {}
    exec(_code_block((folder / "README.md").read_text(), "Loading it"), namespace)  # noqa: S102
    assert {v.dtype for v in namespace["causal_lm"].backbone.weights} == {"bfloat16"}


def test_an_adapter_export_leaves_the_keras_export_of_the_same_step_alone(run_dir):
    if not (run_dir / "export" / "step-3-keras").is_dir():
        assert export_main([str(run_dir)]) == 0
    merged = run_dir / "export" / "step-3-keras"
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in merged.rglob("*")}
    old_adapter = json.loads((run_dir / "export" / "step-3-adapter" / "export.json").read_text())
    os.utime(run_dir / "export" / "step-3-adapter" / "export.json", (0, 0))

    assert cli_main(["export", str(run_dir), "--formats", "adapter"]) == 0
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in merged.rglob("*")} == before
    new_adapter = run_dir / "export" / "step-3-adapter" / "export.json"
    assert new_adapter.stat().st_mtime > 0 and json.loads(new_adapter.read_text())["kind"] == old_adapter["kind"]
    assert [e["kind"] for e in list_exports(run_dir) if e["step"] == 3] == ["adapter", "keras"]
    assert not [p for p in (run_dir / "export").iterdir() if p.name.startswith(".")]  # no temporary left


def test_cli_adapter_only_json_contract_and_clear_errors(run_dir, capsys):
    assert cli_main(["export", str(run_dir), "--step", "2", "--formats", "adapter", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"stage": "zipping"' in out and "GJ-PROGRESS " in out
    folder = run_dir / "export" / "step-2-adapter"
    result = json.loads(out.strip().splitlines()[-1])
    assert result["step"] == 2 and list(result["formats"]) == ["adapter"]
    entry = result["formats"]["adapter"]
    assert entry["path"] == str(folder) and entry["bytes"] > 0 and entry["seconds"] >= 0
    assert result["model_card"] == str(folder / "README.md")
    lineage = json.loads((folder / "lineage.json").read_text())
    assert lineage["run_id"] == "tiny" and lineage["step"] == 2 and lineage["config_hash"].startswith("sha256:")
    assert (folder / "adapter.safetensors").is_file() and not (run_dir / "export" / "step-2-keras").exists()
    assert [(e["step"], e["kind"]) for e in list_exports(run_dir)][-1] == (2, "adapter")
    assert export_main([str(run_dir), "--step", "5"]) == 2
    assert "no checkpoint at step 5" in capsys.readouterr().err
    assert export_main([str(run_dir), "--formats", "onnx"]) == 2
    assert "ONNX is not offered" in capsys.readouterr().err
    assert not list((run_dir / "export").glob("step-5*"))
