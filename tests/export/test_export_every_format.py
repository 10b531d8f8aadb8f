"""`gemma-jax export RUN --formats all --json` on a trained tiny LoRA run: every format in its folder, each
opening in its own runtime (transformers, PEFT, our GGUF importer), model cards that parse, the quantized
files' perplexity cost, export folders as model sources, and a PEFT adapter as the next run's base."""

import contextlib
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))
sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))

from engine_helpers import fast_config
from tiny_runs import TINY_RUN, tiny_run

from gemma_jax.cli import main as cli_main
from gemma_jax.data import prompt_text
from gemma_jax.export.formats import FORMATS
from gemma_jax.export.transformers_export import write_transformers
from gemma_jax.models.generation import Generator
from gemma_jax.models.loading import load_model
from gemma_jax.models.lora import merged_copy
from gemma_jax.runs.run_store import RunStore
from gemma_jax.serve.openai.model_source import resolve_model
from gemma_jax.train.run_model import build_run_training, load_run_model

pytestmark = pytest.mark.slow  # a trained tiny run exported to seven formats

PROMPTS = [prompt_text("hello there"), prompt_text("what is the capital of norway?")]


def _logits(backbone, ids: np.ndarray) -> np.ndarray:
    hidden = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    return np.asarray(backbone.token_embedding(hidden, reverse=True), dtype="float32")


def _greedy(model) -> list[list[int]]:
    return [g.token_ids for g in Generator(model, max_length=64).generate_ids(PROMPTS, 12)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run_dir = tiny_run(tmp_path_factory)
    capture = tmp_path_factory.mktemp("out") / "stdout.txt"
    with capture.open("w") as out, contextlib.redirect_stdout(out):
        assert cli_main(["export", str(run_dir), "--formats", "all", "--json"]) == 0
    result = json.loads(capture.read_text().strip().splitlines()[-1])
    model, _ = load_run_model(str(run_dir))
    ids = np.random.RandomState(0).randint(6, model.tokenizer.vocabulary_size, size=(2, 24)).astype("int32")
    return run_dir, result, model, ids


def test_every_format_is_written_with_the_json_contract_and_a_model_card(exported):
    run_dir, result, _, _ = exported
    assert result["step"] == 3 and list(result["formats"]) == list(FORMATS)
    for name, entry in result["formats"].items():
        folder = Path(entry["path"])
        assert folder == run_dir / "export" / f"step-3-{name}" and entry["bytes"] > 0 and entry["seconds"] >= 0
        front = yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])
        assert front["license"] == "gemma" and front["base_model"] == "tiny:gemma3"
        assert json.loads((folder / "lineage.json").read_text())["format"] == name
        assert {"command", "curl", "vertex"} <= set(json.loads((folder / "serving.json").read_text()))
    for name in ("gguf-q8_0", "gguf-q4_k_m"):
        quality = result["formats"][name]["quality"]
        assert quality["perplexity"] > 1 and quality["reference_perplexity"] > 1 and quality["examples"] > 0
        manifest = json.loads((Path(result["formats"][name]["path"]) / "export.json").read_text())
        assert manifest["quality"] == quality
        agreement = quality["greedy_agreement"]
        assert agreement["prompts"] > 0 and 0 <= agreement["identical"] <= agreement["prompts"]
    assert Path(result["model_card"]).name == "README.md"


def test_transformers_and_peft_reproduce_the_fine_tuned_logits(exported):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run_dir, result, model, ids = exported
    expected = _logits(model.backbone, ids)
    hf = AutoModelForCausalLM.from_pretrained(result["formats"]["hf"]["path"], dtype=torch.float32)
    with torch.no_grad():
        ours_in_hf = hf(torch.from_numpy(ids.astype("int64"))).logits.numpy()
    assert np.abs(ours_in_hf - expected).max() < 1e-3

    store = RunStore.open(str(run_dir))
    base = build_run_training(store, store.config()).model  # the run's base: its adapters still at zero
    base_dir = run_dir / "hf-base"
    write_transformers(dataclasses.replace(base, backbone=merged_copy(base.backbone)), base_dir)
    peft = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), result["formats"]["peft"]["path"]
    )
    with torch.no_grad():
        tuned = peft(torch.from_numpy(ids.astype("int64"))).logits.numpy()
    assert np.abs(tuned - expected).max() < 1e-3


def test_export_folders_are_model_sources_with_the_runs_greedy_tokens(exported, capsys):
    _, result, model, _ = exported
    expected = _greedy(model)
    for name in ("hf", "gguf-f16"):
        assert _greedy(load_model(result["formats"][name]["path"])) == expected, name
    keras = load_model(result["formats"]["keras"]["path"])  # bf16 weights: loads and generates
    assert keras.family == "gemma3" and len(_greedy(keras)) == 2
    with pytest.raises(Exception, match="LoRA adapter"):
        load_model(result["formats"]["peft"]["path"])
    served = resolve_model(result["formats"]["hf"]["path"])  # what `gemma-jax serve EXPORT_DIR` serves
    assert served.model_id == "step-3-hf" and _greedy(served.model) == expected
    assert cli_main(["generate", result["formats"]["gguf-f16"]["path"], "--prompt", "hello there", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_peft_export_is_the_next_runs_base(exported, tmp_path):
    run_dir, result, model, ids = exported
    cfg = fast_config(tmp_path, "method.kind=lora", *TINY_RUN, f"model.adapter={result['formats']['peft']['path']}")
    store = RunStore.create(cfg, run_id="from-adapter")
    (store.path / "tokenizer.model").write_bytes((run_dir / "tokenizer.model").read_bytes())  # the same vocabulary
    base = build_run_training(store, store.config()).model
    np.testing.assert_allclose(_logits(base.backbone, ids), _logits(model.backbone, ids), atol=1e-3, rtol=0)
