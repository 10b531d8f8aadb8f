"""`gemma-jax data check` validates the data settings it builds as `gemma-jax train` validates a config:
a bad flag is the config's message and exit code 2, never the crash handler."""

from __future__ import annotations

import pytest

from gemma_jax.cli import main


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--delimiter", ",,"], "data.delimiter must be a single character, got ',,'"),
        (["--quote-char", "''"], "data.quote_char must be a single character"),
        (["--delimiter", ";", "--quote-char", ";"], "data.delimiter and data.quote_char are both ';'"),
        (["--format", "yaml"], "data.format must be one of"),
    ],
)
def test_bad_data_flags_are_config_errors(write, capsys, flags, message):
    path = write("header.csv", "prompt,response\nq,a\n")
    assert main(["data", "check", path, *flags]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"gemma-jax data: {message}")
    assert "unexpected error" not in captured.err and "Traceback" not in captured.err and captured.out == ""


def test_several_problems_are_listed_together(write, capsys):
    path = write("header.csv", "prompt,response\nq,a\n")
    assert main(["data", "check", path, "--encoding", "klingon", "--text-mode", "regex"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gemma-jax data: the data settings: 2 problems")
    assert "data.encoding 'klingon' is not a known text encoding" in err and "data.text_regex is empty" in err


def test_a_config_s_other_sections_and_train_path_are_not_checked(write, tmp_path, capsys):
    path = write("header.csv", "prompt,response\nq,a\n")
    config = tmp_path / "job.yaml"
    config.write_text("data:\n  train_path: ''\noptimizer:\n  learning_rate: -1\n", encoding="utf-8")
    assert main(["data", "check", path, "--config", str(config)]) == 0
    assert "header.csv: OK" in capsys.readouterr().out
    config.write_text("data:\n  delimiter: ';;'\n", encoding="utf-8")
    assert main(["data", "check", path, "--config", str(config)]) == 2
    assert "data.delimiter must be a single character, got ';;'" in capsys.readouterr().err
