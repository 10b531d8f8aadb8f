"""Export folders per kind, their listing and the progress protocol, without a model (fast)."""

import json

import pytest

from gemma_jax.config import JobConfig, apply_overrides
from gemma_jax.data.chat_template import prompt_text
from gemma_jax.export.exporter import export_kinds
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
    assert archive_stem(run_dir, 3, "merged") == "my-run-step-3-merged"
    with pytest.raises(ValueError, match="unknown export kind"):
        export_dir(run_dir, 3, "../x")
    _export(run_dir, 3, "merged")
    _export(run_dir, 3, "adapter")
    _export(run_dir, 10, "adapter")
    legacy = run_dir / "export" / "step-1"  # written before kinds had folders of their own
    (legacy / "adapter").mkdir(parents=True)
    (legacy / "export.json").write_text(json.dumps({"step": 1, "adapter": True, "merged": True}))
    (legacy / "step-1.zip").write_bytes(b"old")
    (run_dir / "export" / ".step-4-adapter.abc.part").mkdir()  # being written
    (run_dir / "export" / "step-5-adapter").mkdir()  # damaged: no manifest
    listed = list_exports(run_dir)
    assert [(e["step"], e["kind"]) for e in listed] == [(10, "adapter"), (3, "adapter"), (3, "merged"), (1, "bundle")]
    assert listed[1]["folder"] == "step-3-adapter" and listed[1]["zip_size"] == 3
    assert listed[3]["zip"].endswith("step-1.zip")


def test_the_kinds_a_run_can_export():
    assert export_kinds(None, True, "r") == ["adapter", "merged"]
    assert export_kinds(None, False, "r") == ["merged"]
    assert export_kinds(["merged", "adapter"], True, "r") == ["adapter", "merged"]
    with pytest.raises(ValueError, match="no adapter"):
        export_kinds(["adapter"], False, "r")
    with pytest.raises(ValueError, match="unknown export kind"):
        export_kinds(["gguf"], True, "r")


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


@pytest.mark.parametrize("shape", ["auto", "text"])
def test_the_readme_shows_the_template_training_used(shape):
    cfg = apply_overrides(JobConfig(), [f"data.shape={shape}", "data.system_column=sys"])
    manifest = {"run": "r", "step": 3, "method": "lora", "rank": 8, "alpha": 16.0, "targets": ["query"]}
    for kind in ("adapter", "merged"):
        text = readme_text(kind, cfg, {**manifest, "kind": kind}, "r-step-3.zip")
        assert repr(prompt_text("What is the capital of Norway?", "Answer in one word.")) in text
        assert "`sys` column" in text and ("raw text (`data.shape: text`): each text" in text) == (shape == "text")
    assert 'from_preset("preset", dtype="bfloat16")' in readme_text("merged", cfg, manifest, "z.zip")
    assert "layer.enable_lora(8, lora_alpha=16.0)" in readme_text("adapter", cfg, manifest, "z.zip")
