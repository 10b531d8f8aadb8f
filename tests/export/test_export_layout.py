"""Export folders per format, their listing, the model card and the progress protocol, without a model (fast)."""

import json
import shlex

import pytest
import yaml

from gemma_jax.config import JobConfig, apply_overrides
from gemma_jax.data.chat_template import prompt_text
from gemma_jax.export.formats import NOT_OFFERED, parse_formats
from gemma_jax.export.lineage import dataset_hash, lineage
from gemma_jax.export.listing import archive_stem, export_dir, list_exports
from gemma_jax.export.progress import ByteProgress
from gemma_jax.export.readme import readme_text
from gemma_jax.jobs.progress import Progress, latest_progress, parse_progress


def _export(run_dir, step, kind, **manifest):
    folder = export_dir(run_dir, step, kind)
    folder.mkdir(parents=True)
    (folder / "export.json").write_text(json.dumps({"step": step, "kind": kind, "archive": "x.zip", **manifest}))
    (folder / "x.zip").write_bytes(b"zip")
    return folder


def test_each_kind_has_its_own_folder_and_the_listing_puts_the_adapter_first(tmp_path):
    run_dir = tmp_path / "my run"
    assert export_dir(run_dir, 3, "adapter") == run_dir / "export" / "step-3-adapter"
    assert archive_stem(run_dir, 3, "gguf-q8_0") == "my-run-step-3-gguf-q8_0"
    with pytest.raises(ValueError, match="unknown export format"):
        export_dir(run_dir, 3, "../x")
    older = run_dir / "export" / "step-3-merged"  # the Keras preset's folder before formats had names
    older.mkdir(parents=True)
    (older / "export.json").write_text(json.dumps({"step": 3, "kind": "merged"}))
    _export(run_dir, 3, "gguf-f16")
    _export(run_dir, 3, "adapter")
    _export(run_dir, 10, "adapter")
    legacy = run_dir / "export" / "step-1"  # written before kinds had folders of their own
    (legacy / "adapter").mkdir(parents=True)
    (legacy / "export.json").write_text(json.dumps({"step": 1, "adapter": True, "merged": True}))
    (legacy / "step-1.zip").write_bytes(b"old")
    (run_dir / "export" / ".step-4-adapter.abc.part").mkdir()  # being written
    (run_dir / "export" / "step-5-adapter").mkdir()  # damaged: no manifest
    listed = list_exports(run_dir)
    assert [(e["step"], e["kind"]) for e in listed] == [
        (10, "adapter"),
        (3, "adapter"),
        (3, "keras"),
        (3, "gguf-f16"),
        (1, "bundle"),
    ]
    assert listed[1]["folder"] == "step-3-adapter" and listed[1]["zip_size"] == 3
    assert listed[4]["zip"].endswith("step-1.zip")


def test_the_formats_a_run_can_export():
    assert parse_formats(None, True, "r") == ["adapter", "keras"]
    assert parse_formats(None, False, "r") == ["keras"]
    assert parse_formats("gguf-q4_k_m, HF,merged,adapter", True, "r") == ["adapter", "keras", "hf", "gguf-q4_k_m"]
    assert parse_formats("all", False, "r") == ["keras", "hf", "gguf-f16", "gguf-q8_0", "gguf-q4_k_m"]
    with pytest.raises(ValueError, match="no adapter to export as peft"):
        parse_formats("hf,peft", False, "r")
    with pytest.raises(ValueError, match="unknown export format 'gguf'"):
        parse_formats("gguf", True, "r")
    with pytest.raises(ValueError, match="ONNX is not offered: .*optimum-onnx"):
        parse_formats("onnx", True, "r")
    assert set(NOT_OFFERED) == {"onnx"}


def test_bytes_are_reported_in_mb_and_library_logs_are_not_progress():
    lines = []
    report = ByteProgress(lambda *args, **kw: lines.append(Progress(*args, **kw).line()), "zipping", 12 * 1024**2)
    report(3 * 1024**2)
    report(4 * 1024**2)  # within the interval: not reported
    report(12 * 1024**2, final=True)
    report(13 * 1024**2, final=True)  # past an estimated total: the bytes, no total
    shown = [parse_progress(line).message for line in lines]
    assert shown == ["zipping: 3/12 MB", "zipping: 12/12 MB", "zipping, 13.0 MB written"]
    noise = [
        "I0000 00:00:1796419723.644106   17166 cudart_stub.cc:31] Could not find cuda drivers on your machine",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    ]
    assert latest_progress([lines[0], *noise]).message == "zipping: 3/12 MB"


def _card(kind, cfg, manifest, run_dir):
    return readme_text(kind, cfg, manifest, "z.zip", run_dir, lineage(cfg, run_dir / "config.yaml", "r", 3, kind))


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "config.yaml").write_text("name: r\n")
    status = {"started": "2026-01-01T10:00:00+00:00", "updated": "2026-01-01T10:05:30+00:00", "step": 30}
    status["hardware"] = {"platform": "cpu", "device_kind": "cpu", "devices": 1, "processes": 1}
    (folder / "status.json").write_text(json.dumps(status))
    return folder


@pytest.mark.parametrize("shape", ["auto", "text"])
def test_the_readme_shows_the_template_training_used(shape, run_dir):
    cfg = apply_overrides(JobConfig(), [f"data.shape={shape}", "data.system_column=sys"])
    manifest = {"run": "r", "step": 3, "method": "lora", "rank": 8, "alpha": 16.0, "targets": ["query"]}
    for kind in ("adapter", "keras", "hf", "peft", "gguf-q8_0"):
        text = _card(kind, cfg, {**manifest, "kind": kind}, run_dir)
        assert repr(prompt_text("What is the capital of Norway?", "Answer in one word.")) in text
        assert "`sys` column" in text and ("raw text (`data.shape: text`): each text" in text) == (shape == "text")
    assert 'from_preset("preset", dtype="bfloat16")' in _card("keras", cfg, manifest, run_dir)
    assert "layer.enable_lora(8, lora_alpha=16.0)" in _card("adapter", cfg, manifest, run_dir)


def test_the_model_card_front_matter_parses_and_names_the_base_license_and_data(run_dir):
    cfg = apply_overrides(JobConfig(), ["model.source=gemma3_270m"])
    manifest = {"run": "r", "step": 3, "method": "lora", "rank": 8, "alpha": 16.0, "targets": ["query"]}
    for kind, library in (("hf", "transformers"), ("peft", "peft"), ("keras", "keras-hub"), ("gguf-q4_k_m", None)):
        text = _card(kind, cfg, manifest, run_dir)
        assert text.startswith("---\n")
        front = yaml.safe_load(text.split("---\n")[1])
        assert front["base_model"] == "google/gemma-3-270m" and front["license"] == "gemma"
        assert front.get("library_name") == library and "gemma" in front["tags"]
        assert front["datasets"] == [dataset_hash(cfg.data)] and front["datasets"][0].startswith("sha256:")
        for section in ("## Training", "## Method and hyperparameters", "## Evaluation", "## Terms of use"):
            assert section in text
        assert "1 × cpu (cpu)" in text and "5.5 minutes" in text and "ai.google.dev/gemma/terms" in text
        assert "| LoRA rank / alpha | `8 / 16.0` |" in text and "jax " in text
    assert "gguf" in yaml.safe_load(_card("gguf-q4_k_m", cfg, manifest, run_dir).split("---\n")[1])["tags"]


def test_lineage_hashes_content_and_follows_a_parent_export(tmp_path, run_dir):
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "a", "response": "b"}\n')
    cfg = apply_overrides(JobConfig(), [f"data.train_path={data}"])
    first = lineage(cfg, run_dir / "config.yaml", "r", 3, "hf")
    assert first["dataset_hash"] == dataset_hash(cfg.data) and first["parent_export"] is None
    data.write_text('{"prompt": "a", "response": "c"}\n')
    assert dataset_hash(cfg.data) != first["dataset_hash"]
    parent = tmp_path / "export" / "step-3-keras"
    (parent / "preset").mkdir(parents=True)
    (parent / "lineage.json").write_text(json.dumps(first))
    child = apply_overrides(cfg, [f"model.source={parent / 'preset'}"])
    linked = lineage(child, run_dir / "config.yaml", "r2", 5, "hf")["parent_export"]
    assert linked["run_id"] == "r" and linked["step"] == 3 and linked["config_hash"] == first["config_hash"]


@pytest.mark.parametrize("source", ["/models/my-gemma-preset", "tiny:gemma3"])
def test_peft_base_note_says_how_to_write_a_transformers_base(source, tmp_path):
    """A base with no Hub id: the note gives a command that writes a transformers folder of it."""
    from gemma_jax.export.peft_base import peft_base

    cfg = apply_overrides(JobConfig(), [f"model.source={source}", "train.seed=7"])
    base = peft_base(cfg)
    assert base["peft_base"] == "BASE" and "no training steps" not in base["peft_base_note"]
    command = base["peft_base_note"].split("`python -c ")[1].split("`")[0]
    code = shlex.split(command)[0]
    assert "write_transformers(load_model(" in code and "seed=7" in code and "'base-hf'" in code
    compile(code, "note", "exec")
    assert ("tokenizer_proto=open('RUN_DIR/tokenizer.model', 'rb').read()" in code) == source.startswith("tiny:")


def test_a_large_perplexity_change_either_way_is_a_warning():
    """A quantized model that scores much better than the fine-tune is no improvement: it behaves differently."""
    from gemma_jax.export.quality import quality_cost, quality_note

    dropped = quality_cost(19.54, 23.44, 12, answers=[[1, 2], [3], [4], [5]], reference_answers=[[1, 2], [9], [4], [6]])
    assert dropped["increase_percent"] < -16 and "not expected to improve" in dropped["warning"]
    assert dropped["greedy_agreement"] == {"identical": 2, "prompts": 4, "max_new_tokens": 32}
    note = quality_note(dropped)
    assert "**Warning:**" in note and "q8_0 or f16" in note and "2 of 4 identical" in note
    risen = quality_cost(30.0, 23.44, 12)
    assert "higher" in risen["warning"] and "greedy_agreement" not in risen
    close = quality_cost(23.9, 23.44, 12)
    assert close["warning"] is None and "Warning" not in quality_note(close)
    assert quality_note(None) == "" and quality_note(quality_cost(None, 23.44, 0)) == ""
