"""Hostile data files (issue 12): every reader answers each one with a short message, never a traceback,
in bounded time and memory, and leaves the file as it was; so do `gemma-jax data check` and the
dashboard's check.

Each file is read in a child process (read_examples, then build_report keeping every example, the
dashboard's worst case) under an address-space cap; its peak memory comes from wait4 (hostile_files.py
makes the files and measures).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hostile_files import CASES, PYTHON, SEED, Hostile, MiB, bomb_cell, good_file, mutate, repeat, run_measured, xlsx

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import DataError, read_examples
from gemma_jax.data.checks import build_report

CHILD_BUDGET = 1024 * MiB  # address space a reading child may add to what it starts with
MAX_RSS = 1536 * MiB  # peak resident memory a reading child may reach
MAX_SECONDS = 30
MAX_MESSAGE = 8000  # characters a whole answer (an error or the report's errors) may take

_READ = """
import json, sys
from dataclasses import replace
from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import limits
from gemma_jax.data.checks import build_report
from gemma_jax.data.errors import DataError
from gemma_jax.data.readers import read_examples

path, overrides, budget = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
cfg = replace(DataConfig(), **overrides)
with limits.memory_limit(budget):
    try:
        read_examples(path, cfg)
        error = ""
    except DataError as err:
        error = str(err)
    report = build_report(path, cfg)
print(json.dumps({"error": error, "report": [str(p) for p in report.errors]}))
"""


def test_every_format_has_hostile_files():
    suffixes = {Path(c.name).suffix for c in CASES}
    formats = {".jsonl", ".json", ".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet", ".gz", ".bz2", ".xz", ".zip"}
    assert formats <= suffixes
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file_gets_a_short_clear_answer_in_bounded_time_and_memory(case: Hostile, tmp_path):
    path = tmp_path / case.name
    case.write(path, random.Random(f"{SEED}:{case.name}"))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    source = f"hf:{path}" if case.hf else str(path)
    code, out, err, seconds, rss = run_measured([PYTHON, "-c", _READ, source, json.dumps(case.cfg), str(CHILD_BUDGET)])
    assert code == 0, err[-3000:]
    answer = json.loads(out)  # stdout holds the answer only: no library chatter
    assert answer["error"], "the reader accepted a hostile file"
    for text in (answer["error"], "\n".join(answer["report"])):
        assert text and len(text) < MAX_MESSAGE and "Traceback" not in text, text[:2000]
        assert case.expect in text, text[:2000]
    assert seconds < MAX_SECONDS, f"{case.name} took {seconds:.1f} s"
    assert rss < MAX_RSS, f"{case.name} peaked at {rss / MiB:.0f} MiB"
    print(f"{case.name}: {seconds:.2f} s, peak RSS {rss / MiB:.0f} MiB")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [case.name]


# ----- the real CLI ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "write", "expect"),
    [
        ("one_line.jsonl", lambda p, r: repeat(p, b'{"prompt": "', b"o", 100 * MiB, b'"}\n'), "max_record_bytes"),
        ("bomb.xlsx", xlsx([["prompt", "response"], ["PLACEHOLDER", "a"]], bomb_cell), "max_compression_ratio"),
    ],
)
def test_cli_data_check_answers_hostile_files_in_bounded_time_and_memory(tmp_path, name, write, expect):
    path = tmp_path / name
    write(path, random.Random(SEED))
    code, out, err, seconds, rss = run_measured([PYTHON, "-m", "gemma_jax.cli", "data", "check", str(path)])
    print(f"gemma-jax data check {name}: exit {code}, {seconds:.2f} s, peak RSS {rss / MiB:.0f} MiB")
    assert code == 1, err[-3000:]
    assert expect in out and "ERROR" in out and name in out, out[-3000:]
    assert "Traceback" not in out + err and len(out) < MAX_MESSAGE
    assert seconds < MAX_SECONDS and rss < MAX_RSS


# ----- the dashboard's check -----------------------------------------------------------------------------------------
def test_dashboard_check_runs_in_a_child_with_memory_and_time_limits(tmp_path):
    from gemma_jax.config import JobConfig
    from ui.state.data_check import DataCheckStopped, check_data, run_isolated

    cfg = JobConfig()
    for case in CASES:  # the caps answer them, at opening or mid-file: a report, not a stopped check
        if case.name in ("bomb_cell.xlsx", "dictionary_bomb.parquet"):
            path = tmp_path / case.name
            case.write(path, random.Random(SEED))
            cfg = replace(cfg, data=replace(cfg.data, train_path=str(path)))
            result = run_isolated(check_data, cfg)
            assert not result.ok and case.expect in result.problem_lines()[0]["message"]
    big = tmp_path / "big.jsonl"  # a good file, but its examples need more than 1 MiB
    repeat(big, b"", b'{"prompt": "' + b"q" * 4000 + b'", "response": "' + b"r" * 4000 + b'"}\n', 20 * MiB)
    with pytest.raises(DataCheckStopped, match=r"needed more than 1 MiB of memory and was stopped"):
        run_isolated(check_data, replace(cfg, data=replace(cfg.data, train_path=str(big))), memory_bytes=MiB)
    started = time.perf_counter()
    with pytest.raises(DataCheckStopped, match=r"took more than 0.01 s and was stopped"):
        run_isolated(check_data, cfg, timeout_s=0.01)
    assert time.perf_counter() - started < 5


# ----- seeded mutations, in process ----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet"])
def test_mutated_files_are_read_or_answered_with_a_data_error(suffix, tmp_path):
    good = tmp_path / f"good{suffix}"
    good_file(good)
    rng = random.Random(f"{SEED}:{suffix}")
    cfg = replace(DataConfig(), format="text") if suffix == ".txt" else DataConfig()
    path = tmp_path / f"mutated{suffix}"
    for _ in range(40):
        path.write_bytes(mutate(good.read_bytes(), rng))
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        started = time.perf_counter()
        try:
            read_examples(str(path), cfg)
        except DataError as err:
            assert 0 < len(str(err)) < MAX_MESSAGE and "Traceback" not in str(err)
        report = build_report(str(path), cfg)  # never raises
        assert all(len(str(problem)) < MAX_MESSAGE for problem in report.problems)
        assert time.perf_counter() - started < 5
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
