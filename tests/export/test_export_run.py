"""`python -m gemma_jax.export`: adapter, merged preset with the fine-tuned model's logits, config, zip."""

import json
import sys
import zipfile
from pathlib import Path

import keras_hub
import numpy as np
import pytest
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run

from gemma_jax.cli import main as cli_main
from gemma_jax.export import list_exports
from gemma_jax.export.__main__ import main as export_main
from gemma_jax.models.loading import load_model
from gemma_jax.train.run_model import load_run_model

pytestmark = pytest.mark.slow  # a trained tiny run, a preset written and read back: about half a minute


def _logits(backbone, ids: np.ndarray) -> np.ndarray:
    hidden = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    return np.asarray(backbone.token_embedding(hidden, reverse=True))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory)


def test_export_writes_adapter_merged_preset_config_and_zip(run_dir):
    assert export_main([str(run_dir)]) == 0
    folder = run_dir / "export" / "step-3"
    adapter = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert adapter["rank"] == 8 and adapter["step"] == 3 and adapter["base_model"] == "tiny:gemma3"
    tensors = load_file(str(folder / "adapter" / "adapter.safetensors"))
    assert len(tensors) == 2 * len(adapter["layers"]) > 0
    assert any(np.abs(v).max() > 0 for k, v in tensors.items() if k.endswith("lora_kernel_b"))  # trained B
    assert (folder / "config.yaml").read_text() == (run_dir / "config.yaml").read_text()

    tuned, _ = load_run_model(str(run_dir))
    ids = np.random.RandomState(0).randint(6, 200, size=(2, 20)).astype("int32")
    expected = _logits(tuned.backbone, ids)
    ours = load_model(str(folder / "merged_preset"))  # the local preset through gemma-jax's loader
    np.testing.assert_allclose(_logits(ours.backbone, ids), expected, atol=1e-4, rtol=0)
    causal_lm = keras_hub.models.Gemma3CausalLM.from_preset(str(folder / "merged_preset"))
    np.testing.assert_allclose(_logits(causal_lm.backbone, ids), expected, atol=1e-4, rtol=0)
    assert causal_lm.preprocessor.tokenizer.id_to_token(int(ids[0, 0])) == tuned.tokenizer.id_to_piece(int(ids[0, 0]))

    with zipfile.ZipFile(folder / "step-3.zip") as bundle:
        names = set(bundle.namelist())
    assert {"step-3/config.yaml", "step-3/adapter/adapter.safetensors", "step-3/merged_preset/config.json"} <= names
    (listed,) = list_exports(run_dir)
    assert listed["step"] == 3 and listed["adapter"] and listed["merged"] and listed["zip_size"] > 0
    assert {"config.yaml", "step-3.zip", "adapter/adapter_config.json"} <= {f["name"] for f in listed["files"]}


def test_cli_export_without_merged_preset_and_clear_errors(run_dir, capsys):
    assert cli_main(["export", str(run_dir), "--step", "2", "--no-merged"]) == 0
    folder = run_dir / "export" / "step-2"
    assert (folder / "adapter" / "adapter.safetensors").is_file() and not (folder / "merged_preset").exists()
    assert [e["step"] for e in list_exports(run_dir)][-1] == 2
    assert export_main([str(run_dir), "--step", "5"]) == 2
    assert "no checkpoint at step 5" in capsys.readouterr().err
    assert not (run_dir / "export" / "step-5").exists()
