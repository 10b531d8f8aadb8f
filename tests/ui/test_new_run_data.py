"""The wizard's Data step: upload, typed sources, column mapping and the report's bad rows."""

from __future__ import annotations

from pathlib import Path

from new_run_helpers import BAD_ROW_CSV, hardware, make_wizard

from ui.state import wizard_data, wizard_method
from ui.state.config_fields import has_field
from ui.state.help_text import help_for


def test_uploaded_csv_with_a_bad_row_is_flagged(tmp_path):
    wizard = make_wizard(tmp_path)
    path = wizard.data.upload("../my data.csv", BAD_ROW_CSV)
    assert path.parent == wizard.session.workspace.uploads_dir and path.name == "my-data.csv"
    assert wizard.config.data.train_path == str(path)
    result = wizard.data.run_check()
    assert not result.ok
    assert list(result.bad_rows) == [4] and "response is empty" in result.bad_rows[4]
    flagged = [row for row in result.rows if row["problem"]]
    assert [(row["line"], row["prompt"]) for row in flagged] == [(4, "broken")]
    assert len(result.rows) == 4 and result.columns == ["prompt", "response"]
    assert result.problem_lines()[0]["line"] == 4
    assert wizard.data.problems() == ["line 4, column 'response': the response is empty. Fill it in or delete the row."]
    assert result.preview is None and result.notes  # previews wait until the errors are fixed


def test_mapping_columns_changes_the_report(tmp_path):
    wizard = make_wizard(tmp_path)
    wizard.data.upload("qa.csv", b"frage,antwort\nWas ist oben?,Der Himmel.\nWer bist du?,Ein Test.\n")
    before = wizard.data.run_check()
    assert not before.ok and before.report.shape != "prompt_response" and wizard.data.matched is None
    assert before.columns == ["frage", "antwort"]
    # what to do, in the page's words (the pickers' labels), never a config key
    assert wizard.data.advice() == (
        "Choose the Prompt column and the Response column below: the file's columns are frage, antwort. "
        "For chat, plain text, labelled or preference data, pick its Shape first."
    )
    wizard.data.map_column("prompt", "frage")
    assert wizard.data.result is None  # the old report no longer describes the config
    wizard.data.map_column("response", "antwort")
    after = wizard.data.run_check()
    assert after.ok and after.report.columns == {"prompt": "frage", "response": "antwort"}
    assert after.report.usable == 2 and wizard.data.advice() == ""


def test_upload_refused_and_sources_checked(tmp_path):
    wizard = make_wizard(tmp_path, max_upload_mb=1)
    assert wizard.data.upload("big.csv", b"x" * (2 * 1024 * 1024)) is None
    assert "upload limit" in wizard.data.error
    assert wizard.session.notifications[-1][1] == "error"
    assert wizard.config.data.train_path == "example"
    assert not wizard.data.use_source(str(tmp_path / "missing.jsonl"))
    assert "does not exist on the server" in wizard.data.error
    assert wizard.data.error.endswith("The data in use is still example.")  # which file the page now means
    assert wizard.data.use_source("hf:someone/dataset") and wizard.data.error == ""
    assert wizard.data.use_source(" example ") and wizard.config.data.train_path == "example"


def test_example_data_has_token_preview_and_lengths(tmp_path):
    wizard = make_wizard(tmp_path)
    result = wizard.data.run_check()
    assert result.ok and wizard.data.problems() == []
    assert result.summary["split"]["splits"]["validation"]["examples"] > 0
    preview = result.preview
    assert 0 < preview["loss_tokens"] < preview["num_tokens"] and "[[" in preview["marked"]
    assert result.lengths["sequence_length"] == 256 and sum(result.lengths["histogram"]["counts"]) > 0
    assert wizard.data.roles() == ["prompt", "response", "system"]  # the detected shape's columns
    wizard.set("data.shape", "classification")
    assert wizard.data.roles() == ["text", "label"]


def test_every_setting_the_wizard_shows_has_plain_help():
    shown = [
        *wizard_data.BASIC_FIELDS,
        *wizard_data.ADVANCED_FIELDS,
        *wizard_data.COLUMN_ROLES.values(),
        *wizard_method.BASIC_FIELDS,
        *wizard_method.ADVANCED_FIELDS,
        "model.source",
    ]
    missing = [path for path in shown if has_field(path) and len(help_for(path)) < 20]
    assert missing == []
    assert help_for("no.such.field") == ""


def test_a_source_on_the_server_is_used_as_given(tmp_path):
    data = Path(tmp_path / "train.jsonl")
    data.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": "d"}\n')
    wizard = make_wizard(tmp_path)
    assert wizard.data.use_source(str(data))
    assert wizard.data.run_check().report.usable == 2


def test_a_logged_in_user_reads_only_their_own_workspace(tmp_path):
    from ui.state.new_run import NewRunState
    from ui.state.session import Session
    from ui.workspace import Workspace

    root = tmp_path / "server"
    alice = Workspace.for_user(root, "alice").ensure()
    bob = Workspace.for_user(root, "bob").ensure()
    (bob.uploads_dir / "secret.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    mine = alice.uploads_dir / "mine.jsonl"
    mine.write_text('{"prompt": "p", "response": "r"}\n')
    wizard = NewRunState(Session(alice), hardware=hardware())
    assert not wizard.data.use_source(str(bob.uploads_dir / "secret.jsonl"))
    assert "outside your workspace" in wizard.data.error
    assert not wizard.data.use_source(f"{alice.uploads_dir}/../../bob/uploads/secret.jsonl")
    assert wizard.data.use_source(str(mine)) and wizard.data.use_source("example")


def test_a_check_that_ends_after_a_refused_source_keeps_the_refusal(tmp_path, monkeypatch):
    """The page checks the example on open; a source refused while that check runs keeps its message."""
    import threading

    from ui.views.wizard_data import check_in_background

    wizard = make_wizard(tmp_path)
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    real_compute = wizard.data.compute

    def slow_compute(*args):
        started.set()
        release.wait(30)
        try:
            return real_compute(*args)
        finally:
            finished.set()

    monkeypatch.setattr(wizard.data, "compute", slow_compute)
    check_in_background(wizard)
    assert started.wait(30)
    assert not wizard.data.use_source(str(tmp_path / "missing.jsonl"))
    refusal = wizard.data.error
    release.set()
    assert finished.wait(60)
    for _ in range(100):  # done() runs right after compute returns, in the same thread
        if not wizard.data.checking:
            break
        threading.Event().wait(0.05)
    assert not wizard.data.checking and wizard.data.error == refusal and "does not exist" in refusal


def test_a_source_too_long_for_a_path_is_a_message(tmp_path):
    # A pasted page of text is no file name (the file system refuses it): say so, briefly, and keep the config.
    wizard = make_wizard(tmp_path)
    assert not wizard.data.use_source("x" * 5000)
    assert "is not a usable path on the server" in wizard.data.error and len(wizard.data.error) < 400
    assert wizard.config.data.train_path == "example"


def test_a_file_that_cannot_be_read_says_so_without_question_marks(tmp_path):
    from ui.views.wizard_data_report import report_view

    wizard = make_wizard(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert wizard.data.use_source(str(empty))
    result = wizard.data.run_check()
    assert not result.ok
    head = report_view(wizard.data, result, False, "").objects[0].object
    assert head.endswith("could not be read: **1 error(s) to fix**.") and "?" not in head
