"""Progress lines of side jobs: what evaluate (and export) print, and what the dashboard reads back."""

import io
import json

import pytest

from gemma_jax.jobs.progress import PREFIX, Progress, _Pace, latest_progress, parse_progress, report_progress


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


def test_the_time_left_comes_from_the_pace_since_the_stage_began():
    pace = _Pace()
    assert pace.eta("answers", "base model", 0, 40, now=100.0) is None  # nothing done yet: no guess
    assert pace.eta("answers", "base model", 10, 40, now=110.0) == pytest.approx(30.0)  # 1 s an example
    assert pace.eta("answers", "base model", 30, 40, now=120.0) == pytest.approx(20 / 30 * 10)  # the mean pace
    assert pace.eta("answers", "base model", 40, 40, now=121.0) is None  # done
    assert pace.eta("answers", "fine-tuned model", 5, 40, now=200.0) is None  # another stage: its own start
    assert pace.eta("answers", "base model", 0, 40, now=300.0) is None  # the stage began again


def test_the_time_left_reads_as_words_and_survives_the_pipe():
    progress = Progress("answers", 16, 39, "examples", "base model", eta_s=185.4)
    assert progress.message == "answers: 16/39 examples, base model, about 3 min 5 s left"
    assert parse_progress(progress.line()) == progress
    assert Progress("loss", 1, 2, eta_s=4000).message == "loss: 1/2, about 1 h 6 min left"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_bar_on_stderr_and_stdout_stays_clean(capsys):
    terminal = _Terminal()
    report_progress("answers", 3, 4, unit="examples", out=terminal)
    report_progress("answers", 4, 4, unit="examples", out=terminal)
    assert terminal.getvalue() == ""  # a script reading stdout sees only its own lines
    err = capsys.readouterr().err
    assert "[##################......] answers: 3/4 examples" in err
    assert err.endswith("[########################] answers: 4/4 examples\n")
