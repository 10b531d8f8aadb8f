"""Export state: clear refusals, and a real export subprocess whose files are offered for download."""

import sys
from pathlib import Path

import panel as pn
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run, untrained_run
from ui_helpers import make_session

from ui.state.export import ExportState, format_size
from ui.views.export import ExportPage


def test_nothing_to_export_yet_is_explained(tmp_path):
    session = make_session(tmp_path)
    state = ExportState(session)
    assert not state.run_export() and "New run" in state.error
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    state.picker.refresh()
    assert state.exports == [] and state.file_rows() == []
    assert "tiny:gemma3" in state.config_text()  # the run's own config before any export
    assert not state.run_export() and "has no checkpoint yet" in state.error
    page = ExportPage(session, state)
    assert isinstance(page.__panel__(), pn.Column) and not page.download.visible
    assert run_dir.name in state.picker.param.run.objects


def test_sizes_read_well():
    assert [format_size(n) for n in (12, 2048, 5 * 1024**2, 3 * 1024**3)] == ["12 B", "2.0 KB", "5.0 MB", "3.0 GB"]


@pytest.mark.slow  # an export process writes a merged preset: about half a minute
def test_a_real_export_is_listed_with_its_zip(tmp_path_factory, tmp_path):
    session = make_session(tmp_path)
    run_dir = tiny_run(tmp_path_factory, runs_dir=session.workspace.runs_dir)
    state = ExportState(session)
    state.merged = False
    assert state.run_export() and state.running
    state.wait(300)
    assert not state.running and not state.error, state.error
    assert state.export["step"] == 3 and state.export["zip"] == str(run_dir / "export" / "step-3" / "step-3.zip")
    assert {"adapter/adapter.safetensors", "config.yaml", "step-3.zip"} <= {row["file"] for row in state.file_rows()}
    page = ExportPage(session, state)
    assert page.download.visible and page.download.filename == "step-3.zip"
