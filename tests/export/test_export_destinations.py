"""Where exports go: a gs:// prefix (on a local Cloud Storage emulator), the Hugging Face Hub (offline: a
fast clear refusal, the local export kept), and a killed export that leaves nothing listed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))
sys.path.insert(0, str(Path(__file__).parents[1] / "models"))

from test_source_gcs import BUCKET, emulator  # noqa: F401  (the fixture)
from tiny_runs import tiny_run

from gemma_jax.export import list_exports
from gemma_jax.export.__main__ import main as export_main
from gemma_jax.export.listing import MANIFEST

pytestmark = pytest.mark.slow  # a trained tiny run and real exports


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory)


def test_an_export_to_gs_is_uploaded_whole_with_its_manifest(run_dir, emulator, capsys):  # noqa: F811
    _, bucket = emulator
    assert export_main([str(run_dir), "--formats", "adapter", "--out", f"gs://{BUCKET}/exports", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    entry = result["formats"]["adapter"]
    assert entry["uploaded"] == f"gs://{BUCKET}/exports/step-3-adapter"
    local = Path(entry["path"])
    uploaded = {b.name.removeprefix("exports/step-3-adapter/"): b.size for b in bucket.list_blobs(prefix="exports/")}
    assert uploaded == {p.relative_to(local).as_posix(): p.stat().st_size for p in local.rglob("*") if p.is_file()}
    assert MANIFEST in uploaded and "adapter.safetensors" in uploaded and "README.md" in uploaded


def test_a_push_to_an_unreachable_hub_fails_fast_and_keeps_the_export(run_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    monkeypatch.setenv("GEMMA_JAX_HUB_TIMEOUT", "2")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    started = time.monotonic()
    assert export_main([str(run_dir), "--formats", "adapter", "--push-to-hub", "me/tuned"]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - started < 120
    assert "cannot push to me/tuned" in err and "cannot be reached" in err and "complete in" in err
    assert "hf_secret_token_value" not in err and "Traceback" not in err
    assert (run_dir / "export" / "step-3-adapter" / MANIFEST).is_file()
    assert export_main([str(run_dir), "--formats", "adapter,keras", "--push-to-hub", "me/tuned"]) == 2
    assert "push one format per Hub repository" in capsys.readouterr().err


def test_a_killed_export_leaves_no_folder_listed_and_the_next_one_clears_it(run_dir):
    export = run_dir / "export"
    child = subprocess.Popen(
        [sys.executable, "-m", "gemma_jax.export", str(run_dir), "--formats", "keras", "--step", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    deadline = time.monotonic() + 240
    while not list(export.glob(".step-2-keras.*.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert list(export.glob(".step-2-keras.*.part"))  # caught while writing
    assert not (export / "step-2-keras").exists()
    assert all(e["kind"] != "keras" or e["step"] != 2 for e in list_exports(run_dir))
    assert export_main([str(run_dir), "--formats", "keras", "--step", "2"]) == 0
    assert (export / "step-2-keras" / MANIFEST).is_file() and not list(export.glob(".step-2-keras.*"))
