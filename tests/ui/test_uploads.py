"""Uploads: only the file just dropped is saved and used, chunks go straight to disk, the size limit acts
at the chunk that crosses it, and any file name stays a plain name inside uploads/ (keeping its extension)."""

from __future__ import annotations

import math
import tracemalloc
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import pytest
from new_run_helpers import make_wizard

from ui.views.uploads import StreamingFileDropper
from ui.views.wizard_data import DataView
from ui.workspace import UploadError, Workspace, safe_file_name

MB = 1024 * 1024


def _chunk_event(name: str, chunk: int, total: int, data: bytes) -> SimpleNamespace:
    """An upload_event as FileDropper's browser side sends it (chunks numbered from 1)."""
    return SimpleNamespace(
        event_name="upload_event",
        data={"name": name, "chunk": chunk, "total_chunks": total, "data": data, "type": "text/csv"},
    )


def drop(dropper: StreamingFileDropper, name: str, payload: bytes, chunk_size: int = 64 * 1024) -> None:
    """Send `payload` the way the browser does: ceil((size + 1) / chunk_size) chunks, the last maybe empty."""
    total = math.ceil((len(payload) + 1) / chunk_size)
    for index in range(total):
        start = index * chunk_size
        dropper._process_event(_chunk_event(name, index + 1, total, payload[start : start + chunk_size]))


def _data_view(tmp_path, max_upload_mb: int = 16) -> DataView:
    view = DataView(make_wizard(tmp_path, max_upload_mb=max_upload_mb))
    view.start_check = lambda: None  # the report itself is tested elsewhere
    return view


def _files(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_the_second_upload_of_a_session_is_the_one_trained_on(tmp_path):
    view = _data_view(tmp_path)
    wizard = view.state
    drop(view.upload, "data.csv", b"prompt,response\nwrong,file\n")
    first = wizard.config.data.train_path
    drop(view.upload, "data.csv", b"prompt,response\nright,file\n")  # the corrected file, same name
    second = wizard.config.data.train_path
    assert second != first and Path(second).read_bytes() == b"prompt,response\nright,file\n"
    assert view.source.value == second
    drop(view.upload, "other.jsonl", b'{"prompt": "a", "response": "b"}\n')
    uploads = wizard.session.workspace.uploads_dir
    assert wizard.config.data.train_path == str(uploads / "other.jsonl")
    assert _files(uploads) == ["data-2.csv", "data.csv", "other.jsonl"]  # each file saved once, never again
    assert view.upload.value == {}  # nothing is kept in memory


def test_a_200_mb_upload_streams_to_disk(tmp_path):
    workspace = Workspace(tmp_path / "ws", max_upload_mb=512).ensure()
    saved = []
    dropper = StreamingFileDropper(workspace.open_upload, lambda _name, upload: saved.append(upload.finish()))
    chunk_size, size = 8 * MB, 200 * MB
    total = math.ceil((size + 1) / chunk_size)
    tracemalloc.start()
    try:
        for index in range(total):
            data = bytes(min(chunk_size, size - index * chunk_size))  # a fresh chunk, like each websocket message
            dropper._process_event(_chunk_event("big.jsonl", index + 1, total, data))
            del data
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * MB, f"{peak / MB:.0f} MB held while receiving a {size // MB} MB upload"
    (path,) = saved
    assert path.stat().st_size == size and _files(workspace.uploads_dir) == ["big.jsonl"]


def test_an_oversize_upload_is_refused_at_the_chunk_that_crosses_the_limit(tmp_path):
    view = _data_view(tmp_path, max_upload_mb=1)
    wizard, uploads = view.state, view.state.session.workspace.uploads_dir
    chunk_size, total = 256 * 1024, 12  # a 3 MB file
    handed_over_at = []
    hand_over = view.upload._on_upload

    def record(name, upload):
        handed_over_at.append(chunk)
        hand_over(name, upload)

    view.upload._on_upload = record
    for chunk in range(1, total + 1):
        view.upload._process_event(_chunk_event("big.csv", chunk, total, b"x" * chunk_size))
        if chunk == 4:
            assert any(p.name.startswith(".upload-") for p in uploads.iterdir())  # streaming to a partial file
    assert handed_over_at == [5]  # 5 x 256 KB is the first chunk over 1 MB; the rest were dropped
    assert "upload limit" in wizard.data.error and wizard.session.notifications[-1][1] == "error"
    assert _files(uploads) == []  # the partial file is gone
    assert wizard.config.data.train_path == "example"


def test_an_upload_removed_or_restarted_midway_leaves_no_partial_file(tmp_path):
    workspace = Workspace(tmp_path / "ws").ensure()
    saved = []
    dropper = StreamingFileDropper(workspace.open_upload, lambda _name, upload: saved.append(upload.finish()))
    dropper._process_event(_chunk_event("a.csv", 1, 3, b"half"))
    dropper._process_event(SimpleNamespace(event_name="delete_event", data={"name": "a.csv"}))
    dropper._process_event(_chunk_event("b.csv", 1, 3, b"half"))
    drop(dropper, "b.csv", b"whole")  # dropped again before the first transfer ended
    dropper._process_event(_chunk_event("c.csv", 1, 3, b"half"))
    dropper.discard()  # the browser session ended
    assert saved == [workspace.uploads_dir / "b.csv"] and _files(workspace.uploads_dir) == ["b.csv"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("データ.csv", "データ.csv"),
        ("Ünïcödé файл.jsonl", "Ünïcödé-файл.jsonl"),
        ("report.v2.xlsx", "report.v2.xlsx"),
        ("../my data.csv", "my-data.csv"),
        ("!!!.csv", "upload.csv"),
    ],
)
def test_names_keep_letters_of_any_script_and_their_extension(tmp_path, name, expected):
    assert safe_file_name(name) == expected
    path = Workspace(tmp_path / "ws").ensure().save_upload(name, b"x")
    assert path.name == expected and path.suffix == expected[expected.rfind(".") :]


@pytest.mark.parametrize(
    "name",
    [
        "../../x",
        "/etc/passwd",
        "..\\..\\windows.csv",
        ".bashrc",
        "..hidden.csv",
        "a\x00b.csv",
        "two\nlines.csv",
        "bell\x07\x1b[31m.csv",
        "right-to-left\u202egpj.csv",
        "x" * 1000 + ".csv",
        "データ" * 100 + ".jsonl",
        "ｆｕｌｌ／ｗｉｄｔｈ.csv",
    ],
)
def test_hostile_names_stay_plain_names_inside_uploads(tmp_path, name):
    workspace = Workspace(tmp_path / "ws").ensure()
    path = workspace.save_upload(name, b"data")
    assert path.parent == workspace.uploads_dir and path.read_bytes() == b"data"
    assert not path.name.startswith(".") and ".." not in path.name.split("/")
    assert not any(unicodedata.category(ch).startswith("C") for ch in path.name)
    assert len(path.name.encode("utf-8")) <= 120
    if name.endswith((".csv", ".jsonl")):
        assert path.suffix in (".csv", ".jsonl")
    assert _files(tmp_path / "ws") == ["runs", "uploads"]  # nothing written beside uploads/


@pytest.mark.parametrize("name", ["..", ".", "   ", "\x00", "/"])
def test_names_with_nothing_usable_are_refused(tmp_path, name):
    workspace = Workspace(tmp_path / "ws").ensure()
    with pytest.raises(UploadError, match="no usable characters"):
        workspace.save_upload(name, b"data")
    assert _files(workspace.uploads_dir) == []
