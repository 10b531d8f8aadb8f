"""Export state: clear refusals, real progress (never a library's log line), per-kind exports offered as
plain download links, and a real export subprocess."""

import html
import json
import sys
from pathlib import Path

import panel as pn
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run, untrained_run
from ui_helpers import make_run, make_session

from gemma_jax.export import export_dir
from gemma_jax.jobs.progress import Progress
from ui.state.background import BackgroundCommand
from ui.state.export import ExportState, _quality_text, format_size
from ui.state.session import Session
from ui.views.export import ExportPage
from ui.workspace import Workspace


def _fake_export(run_dir: Path, step: int, kind: str, size: int = 10) -> Path:
    folder = export_dir(run_dir, step, kind)
    folder.mkdir(parents=True)
    archive = f"{run_dir.name}-step-{step}-{kind}.zip"
    (folder / "export.json").write_text(json.dumps({"step": step, "kind": kind, "archive": archive}))
    (folder / archive).write_bytes(b"z" * size)
    (folder / "README.md").write_text(f"# {kind} <start_of_turn>user\n")
    (folder / "config.yaml").write_text("name: exported\n")
    return folder


class FakeJob(BackgroundCommand):
    """A BackgroundCommand with no process: what the command printed on stdout and on stderr."""

    def __init__(self, output, errors=()):
        self.output, self.errors, self.returncode = list(output), list(errors), None


def test_nothing_to_export_yet_is_explained(tmp_path):
    session = make_session(tmp_path)
    state = ExportState(session)
    assert not state.run_export() and "New run" in state.error
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    state.picker.refresh()
    assert state.exports == [] and state.file_rows() == [] and state.downloads() == []
    assert "tiny:gemma3" in state.config_text()  # the run's own config before any export
    assert state.formats == ["adapter"]  # the adapter is the default export
    assert not state.run_export() and "has no checkpoint yet" in state.error
    page = ExportPage(session, state)
    assert isinstance(page.__panel__(), pn.Column) and not page.links.visible
    assert run_dir.name in state.picker.param.run.objects


def test_sizes_read_well():
    assert [format_size(n) for n in (12, 2048, 5 * 1024**2, 3 * 1024**3)] == ["12 B", "2.0 KB", "5.0 MB", "3.0 GB"]


def test_each_kind_is_a_plain_download_link_with_its_place_on_the_server(tmp_path):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    _fake_export(run_dir, 2, "adapter")
    _fake_export(run_dir, 4, "keras", size=3 * 1024**2)
    _fake_export(run_dir, 4, "adapter")
    quantized = _fake_export(run_dir, 4, "gguf-q4_k_m")
    manifest = json.loads((quantized / "export.json").read_text())
    manifest["quality"] = {"perplexity": 12.5, "reference_perplexity": 12.0, "increase_percent": 4.1667}
    (quantized / "export.json").write_text(json.dumps(manifest))
    spec = {"command": "docker run <img>", "curl": "curl http://localhost:8080", "vertex": {"displayName": "<b>"}}
    (quantized / "serving.json").write_text(json.dumps(spec))
    state = ExportState(session)
    assert state.step_shown == 4 and [e["kind"] for e in state.shown] == ["adapter", "keras", "gguf-q4_k_m"]
    assert list(state.export_options) == [
        "step 4: adapter, keras, gguf-q4_k_m (3.0 MB)",
        "step 2: adapter (10 B)",
    ]
    adapter, merged, gguf = state.downloads()
    assert gguf["quality"] == "validation perplexity 12.5 vs 12 unquantized (+4.17%)"
    warned = {
        "perplexity": 19.54,
        "reference_perplexity": 23.44,
        "increase_percent": -16.6,
        "greedy_agreement": {"identical": 1, "prompts": 4, "max_new_tokens": 32},
        "warning": "it behaves differently from the fine-tune, not better",
    }
    assert _quality_text(warned) == (
        "validation perplexity 19.54 vs 23.44 unquantized (-16.60%); 1 of 4 greedy answers identical to the "
        "unquantized. Warning: it behaves differently from the fine-tune, not better"
    )
    assert adapter["url"] == f"downloads/{run_dir.name}/step-4-adapter/{run_dir.name}-step-4-adapter.zip"
    assert adapter["server_path"] == str(run_dir / "export" / "step-4-adapter")  # one user: the real path
    assert merged["label"] == "Keras-Hub preset, merged (bf16)" and merged["size"] == "3.0 MB"
    assert "<start_of_turn>" in state.readme_text() and state.config_text() == "name: exported\n"
    assert {r["file"] for r in state.file_rows()} >= {"step-4-adapter/README.md", "step-4-keras/export.json"}

    page = ExportPage(session, state)
    assert page.links.visible and 'href="downloads/' in page.links.object and " download=" in page.links.object
    assert "gj-export-download-adapter" in page.links.object and "+4.17%" in html.unescape(page.links.object)
    assert "docker run &lt;img&gt;" in page.serving.object and "&lt;b&gt;" in page.serving.object  # escaped
    assert "ONNX is not offered" in page.not_offered.object
    assert not any(isinstance(obj, pn.widgets.FileDownload) for obj in page.__panel__().select())
    state.show_step(2)
    assert [e["step"] for e in state.shown] == [2] and page.exports.value == 2


def test_a_logged_in_user_sees_workspace_paths_only(tmp_path):
    workspace = Workspace.for_user(tmp_path / "server", "alice").ensure()
    session = Session(workspace)
    run_dir = untrained_run(tmp_path, runs_dir=workspace.runs_dir)
    folder = _fake_export(run_dir, 3, "adapter")
    (folder / "config.yaml").write_text(f"data:\n  train_path: {workspace.uploads_dir}/mine.csv\n")
    state = ExportState(session)
    (link,) = state.downloads()
    assert link["server_path"] == f"runs/{run_dir.name}/export/step-3-adapter"
    assert str(tmp_path) not in json.dumps(link) + state.config_text() + state.readme_text()
    assert "train_path: uploads/mine.csv" in state.config_text()


def test_a_fully_fine_tuned_run_exports_its_merged_model(tmp_path):
    session = make_session(tmp_path)
    make_run(session, "full-run", "method.kind=full")
    state = ExportState(session)
    assert state.picker.run == "full-run" and state.formats == ["keras"]
    state.formats = ["adapter", "hf"]
    assert not state.run_export() and "no LoRA adapter" in state.error
    state.formats = []
    assert not state.run_export() and "at least one format" in state.error


def test_progress_is_the_exports_own_lines_never_a_librarys_log(tmp_path):
    session = make_session(tmp_path)
    untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    state = ExportState(session)
    noise = "I0000 00:00:1796419723.644106 17166 cudart_stub.cc:31] Could not find cuda drivers on your machine"
    state._job, state.running = FakeJob([], [noise]), True
    state.poll()
    assert state.progress == "Starting the export…" and state.fraction is None
    state._job.output.append(Progress("zipping", 3, 12, "MB").line())
    state._job.errors.append("WARNING: All log messages before absl::InitializeLog() is called")
    state.poll()
    assert state.progress == "Zipping: 3/12 MB" and state.fraction == 0.25
    state._job.returncode = 2
    state._job.errors.append("export: run x was fine-tuned in full: it has no adapter to export")
    state.poll()
    assert not state.running and state.fraction is None and "no adapter to export" in state.error
    assert "cuda" not in state.error


@pytest.mark.slow  # an export process writes the adapter: about 20 seconds
def test_a_real_export_is_listed_with_its_zip(tmp_path_factory, tmp_path):
    session = make_session(tmp_path)
    run_dir = tiny_run(tmp_path_factory, runs_dir=session.workspace.runs_dir)
    _fake_export(run_dir, 3, "keras")  # an earlier Keras export of the same step stays
    state = ExportState(session)
    assert state.formats == ["adapter"] and state.run_export() and state.running
    seen = set()
    while state.running:
        state.wait(0.2)
        seen.add(state.progress)
    assert not state.error, state.error
    assert not any("I0000" in text or "cuda" in text for text in seen), seen
    assert "Writing the LoRA adapter" in seen or "Zipping" in " ".join(seen) or len(seen) > 1
    assert [e["kind"] for e in state.shown] == ["adapter", "keras"] and state.step_shown == 3
    adapter = state.shown[0]
    assert adapter["zip"] == str(run_dir / "export" / "step-3-adapter" / "tiny-step-3-adapter.zip")
    assert {"step-3-adapter/adapter.safetensors", "step-3-adapter/README.md", "step-3-adapter/export.json"} <= {
        row["file"] for row in state.file_rows()
    }
    assert "<start_of_turn>user" in state.readme_text()
    page = ExportPage(session, state)
    assert "tiny-step-3-adapter.zip" in page.links.object
