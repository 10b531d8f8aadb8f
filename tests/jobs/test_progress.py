"""Progress lines of side jobs: what evaluate (and export) print, and what the dashboard reads back."""

import io
import json

import pytest

from gemma_jax.jobs.progress import PREFIX, Progress, latest_progress, parse_progress, report_progress


def test_a_reported_line_parses_back_and_reads_as_words():
    out = io.StringIO()
    report_progress("loss", 3, 12, unit="batches", detail="fine-tuned model", out=out)
    line = out.getvalue()
    assert line.startswith(PREFIX) and line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line[len(PREFIX) :])["message"] == "loss: 3/12 batches, fine-tuned model"  # for terminals
    progress = parse_progress(line.rstrip("\n"))
    assert progress == Progress("loss", 3, 12, "batches", "fine-tuned model")
    assert progress.fraction == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("progress", "message", "fraction"),
    [
        (Progress("loading the model", detail="tiny:gemma3"), "loading the model, tiny:gemma3", None),
        (Progress("answers", 5, 8, "prompts", "base model"), "answers: 5/8 prompts, base model", 0.625),
        (Progress("writing the report"), "writing the report", None),
        (Progress("loss", 0, 0, "batches"), "loss: 0/0 batches", None),  # an empty split: no bar
        (Progress("loss", 9, 4), "loss: 9/4", 1.0),
    ],
)
def test_messages_and_fractions(progress, message, fraction):
    assert progress.message == message
    assert progress.fraction == fraction
    assert parse_progress(progress.line()) == progress


@pytest.mark.parametrize(
    "line",
    [
        "loss: 3/12",
        "I0000 00:00:1796419534.194643 port.cc:153] oneDNN custom operations are on",
        PREFIX + "{half",
        PREFIX + "5",
        PREFIX + "[1, 2]",
        PREFIX + '{"done": 1}',
        PREFIX + '{"stage": "loss", "done": "three"}',
        " " + Progress("loss").line(),
    ],
)
def test_other_lines_are_not_progress(line):
    assert parse_progress(line) is None


def test_the_newest_progress_among_other_output():
    lines = [
        Progress("loss", 1, 4).line(),
        Progress("loss", 2, 4).line(),
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        PREFIX + "{broken",
    ]
    assert latest_progress(lines) == Progress("loss", 2, 4)
    assert latest_progress(lines[2:]) is None and latest_progress([]) is None
