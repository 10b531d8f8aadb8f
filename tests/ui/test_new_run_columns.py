"""The Data step for a newcomer: each new file starts from a clean column mapping matched to its columns,
only the roles the file needs are shown, invalid rows can be skipped, and the run is named after the data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from new_run_helpers import ALPACA_JSONL, BAD_ROW_CSV, QA_CSV, make_wizard


def test_a_second_upload_gets_its_own_mapping_not_the_first_ones(tmp_path):
    wizard = make_wizard(tmp_path)
    wizard.data.upload("qa.csv", QA_CSV)
    first = wizard.data.run_check()
    assert first.ok and first.report.usable == 3
    assert (wizard.config.data.prompt_column, wizard.config.data.response_column) == ("question", "answer")
    wizard.data.upload("alpaca.jsonl", ALPACA_JSONL)
    second = wizard.data.run_check()
    data = wizard.config.data
    assert second.ok and second.report.usable == 3, second.problem_lines()
    assert data.train_path.endswith("alpaca.jsonl")
    assert (data.prompt_column, data.response_column, data.system_column) == ("instruction", "output", "input")
    assert wizard.data.matched.layout == "Alpaca"
    assert wizard.data.roles() == ["prompt", "response", "system"]
    # the input is put before the instruction where a row has one
    assert second.preview is not None and "2 and 3\n\nAdd the numbers." in second.preview["text"]


def test_a_new_file_after_a_manual_mapping_starts_clean(tmp_path):
    """The old bug: a mapping chosen for the first file made every row of the next one fail."""
    wizard = make_wizard(tmp_path)
    wizard.data.upload("odd.csv", b"q,a\nhi,there\n")
    wizard.data.map_column("prompt", "q")
    wizard.data.map_column("response", "a")
    assert wizard.data.run_check().ok
    wizard.data.upload("plain.jsonl", b'{"prompt": "p1", "response": "r1"}\n{"prompt": "p2", "response": "r2"}\n')
    assert (wizard.config.data.prompt_column, wizard.config.data.response_column) == ("prompt", "response")
    assert wizard.data.run_check().ok


@pytest.mark.parametrize(
    ("rows", "shape", "columns", "roles"),
    [
        (
            [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}],
            "chat",
            {"messages": "conversations"},
            ["messages", "system"],
        ),
        (
            [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}],
            "chat",
            {"messages": "messages"},
            ["messages", "system"],
        ),
        (
            [{"prompt": "Hi", "completion": "Hello"}],
            "prompt_response",
            {"prompt": "prompt", "response": "completion"},
            None,
        ),
        ([{"Question": "Hi?", "Answer": "Yes"}], "prompt_response", {"prompt": "Question", "response": "Answer"}, None),
        ([{"text": "Some prose about ships."}], "text", {"text": "text"}, ["text"]),
        ([{"sentence": "Great film", "label": "pos"}], "classification", {"text": "sentence", "label": "label"}, None),
    ],
)
def test_common_layouts_are_matched_and_only_their_roles_shown(tmp_path, rows, shape, columns, roles):
    wizard = make_wizard(tmp_path)
    lines = [json.dumps(row) for row in rows * 4]
    wizard.data.upload("data.jsonl", ("\n".join(lines) + "\n").encode())
    result = wizard.data.run_check()
    assert result.ok, result.problem_lines()
    assert wizard.config.data.shape == shape and wizard.data.matched.columns == columns
    assert wizard.data.roles() == (
        roles or {"prompt_response": ["prompt", "response", "system"]}.get(shape, list(columns))
    )


def test_an_unknown_file_shows_prompt_and_response_not_every_role(tmp_path):
    from ui.state.wizard_columns import ROLE_LABELS

    wizard = make_wizard(tmp_path)
    wizard.data.upload("odd.csv", b"foo,bar\na,b\n")
    wizard.data.run_check()
    assert wizard.data.roles() == ["prompt", "response", "system"]
    assert ROLE_LABELS["system"] == "System or context (optional)"


def test_skip_invalid_rows_trains_on_a_copy_of_the_valid_ones(tmp_path):
    wizard = make_wizard(tmp_path)
    original = wizard.data.upload("bad.csv", BAD_ROW_CSV)
    before = wizard.data.run_check()
    assert not before.ok and wizard.data.problems()
    wizard.data.set_skip_invalid(True)
    after = wizard.data.run_check()
    skipped = wizard.data.skipped
    assert after.ok and wizard.data.problems() == []
    copy = Path(wizard.config.data.train_path)
    assert copy == Path(skipped.copy) and copy.parent == wizard.session.workspace.uploads_dir / "valid-rows"
    assert [json.loads(line)["prompt"] for line in copy.read_text().splitlines()] == ["hello", "what is 2+2", "ok"]
    assert skipped.rows == {4: "the response is empty. Fill it in or delete the row."} and skipped.kept == 3
    assert wizard.data.source == str(original)  # the page still names the file the user chose
    shown = skipped.original_check  # the preview keeps the skipped row, marked
    assert [row["line"] for row in shown.rows if row["problem"]] == [4]
    assert not [p for p in wizard.review.problems() if p.startswith("data:")]
    # a changed mapping checks the original again; unticking trains on the whole file (and its error) again
    wizard.set("data.validation_fraction", 0.2)
    assert wizard.data.run_check().ok and wizard.data.skipped is not None
    wizard.data.set_skip_invalid(False)
    assert wizard.config.data.train_path == str(original) and wizard.data.skipped is None
    assert not wizard.data.run_check().ok


def test_skipping_does_not_hide_a_file_that_cannot_be_read_at_all(tmp_path):
    wizard = make_wizard(tmp_path)
    wizard.data.set_skip_invalid(True)
    wizard.data.upload("odd.csv", b"foo,bar\na,b\n")  # no prompt/response column: no row can be trusted
    assert not wizard.data.run_check().ok and wizard.data.skipped is None


def test_the_run_is_named_after_its_data_until_the_user_names_it(tmp_path):
    wizard = make_wizard(tmp_path)
    assert wizard.config.name == "run"
    wizard.data.upload("faq list.csv", QA_CSV)
    assert wizard.config.name == "faq-list"
    wizard.data.use_source("hf:someone/support_tickets")
    assert wizard.config.name == "support_tickets"
    wizard.set("name", "my-first-lora")
    wizard.data.upload("other.csv", QA_CSV)
    assert wizard.config.name == "my-first-lora"


def test_the_data_report_speaks_the_pages_words(tmp_path):
    from ui.views.wizard_data import DataView
    from ui.views.wizard_data_report import problems_html

    wizard = make_wizard(tmp_path)
    view = DataView(wizard)
    view.start_check = lambda: None
    wizard.data.upload("qa.csv", QA_CSV)
    wizard.data.run_check()
    assert "question → Prompt, answer → Response" in view.matched.object and view.matched.visible
    wizard.data.upload("odd.csv", b"foo,prompt\na,b\n")
    result = wizard.data.run_check()
    html = problems_html(result)
    assert "Choose the Response column" in html and "data.response_column" not in html
    assert view.advice.visible and "Choose the Response column below" in view.advice.object
    assert [w.visible for w in view.columns.values()] == [True, True, False, False, False, False, False, True]


def test_a_cloned_runs_columns_are_kept_as_they_are(tmp_path):
    from gemma_jax.config import JobConfig, apply_overrides

    wizard = make_wizard(tmp_path)
    wizard.data.upload("qa.csv", QA_CSV)  # a check is now due to match this file's columns
    wizard.session.clone_config = apply_overrides(JobConfig(), ["data.prompt_column=frage", "name=again"])
    assert wizard.take_clone()
    assert not wizard.data.match_columns and wizard.data.matched is None and wizard.data.skipped is None
    wizard.data.run_check()
    assert wizard.config.data.prompt_column == "frage"  # the clone's mapping, not a guess
