"""data.text_regex under the `regex` module: a catastrophically backtracking pattern is a clear error
after a timeout (under `re` it held `data check` and `train` in C code, deaf even to SIGTERM), and a
normal pattern's matches are exactly `re.finditer`'s."""

from __future__ import annotations

import random
import re
import time
from dataclasses import replace

import pytest

from gemma_jax.cli import main
from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import DataError, read_examples, text_readers

CFG = replace(DataConfig(), format="text", text_mode="regex")
BACKTRACKS = "(?P<text>(a|aa)+b)"  # exponential in the run of a's for a backtracking matcher


def test_a_catastrophic_regex_times_out_with_a_clear_error(write, monkeypatch):
    monkeypatch.setattr(text_readers, "REGEX_TIMEOUT_S", 0.2)
    path = write("aaa.txt", "ok\n\n" + "a" * 40 + "!\n")
    started = time.monotonic()
    with pytest.raises(DataError) as caught:
        read_examples(path, replace(CFG, text_regex=BACKTRACKS))
    assert time.monotonic() - started < 20
    message = str(caught.value)
    assert "data.text_regex took over 0.2 s on line 3" in message
    assert "backtracks catastrophically (nested repeats like (a+)+" in message and "simplify it" in message


def test_data_check_reports_the_timeout_and_ends(write, capsys):
    assert text_readers.REGEX_TIMEOUT_S == 1.0  # without the timeout this check never ends: fail, do not hang
    path = write("aaa.txt", ("a" * 40 + "!\n") * 3)
    started = time.monotonic()
    code = main(["data", "check", path, "--format", "text", "--text-mode", "regex", "--text-regex", BACKTRACKS])
    assert code == 1 and time.monotonic() - started < 30
    assert "data.text_regex took over 1 s on line 1: it backtracks catastrophically" in capsys.readouterr().out


def test_nested_repeats_that_regex_matches_fast_are_unmatched_text(write):
    assert text_readers.regex.__name__ == "regex"  # under `re` this pattern runs for days: fail, do not hang
    path = write("aaa.txt", ("a" * 40 + "!\n") * 3)
    with pytest.raises(DataError, match="line 1: this text does not match data.text_regex"):
        read_examples(path, replace(CFG, text_regex="(?P<text>(a+)+b)"))


PATTERNS = [
    r"(?P<t>.*)",
    r"(?P<t>a*?)",
    r"(?P<t>x*)",
    r"^(?P<t>\w+)",
    r"(?m)^(?P<t>\w*)$",
    r"(?<=a)(?P<t>b*)",
    r"(?P<a>a|)(?P<b>b?)",
    r"Q: (?P<prompt>.*)\nA: (?P<response>.*)",
    r"(?s)(?P<t>.+?)(?:\n\n|$)",
    r"(?P<x>(?:ab)*|c)",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_matches_are_re_finditer_s_empty_matches_included(pattern):
    rng = random.Random(pattern)
    compiled = text_readers.regex.compile(pattern)
    for _ in range(200):
        block = "".join(rng.choice("abcx\nQ: A") for _ in range(rng.randint(0, 16)))
        expected = [(m.span(), m.groupdict()) for m in re.finditer(pattern, block)]
        got = [(m.span(), m.groupdict()) for m in text_readers._matches(None, compiled, 1, block)]
        assert got == expected, block
