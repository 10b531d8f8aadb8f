"""A named pipe, a device or a socket given as the data is refused up front, from its stat alone.

Each reported size 0, so it was called "empty"; opening a FIFO waits for a writer that never comes and
/dev/zero never ends, so nothing may open one. Every source goes through reader_registry._open_any
(read_examples, `gemma-jax data check`, training and the dashboard), which is where the check is.
The timeout ends a test that blocks on the pipe instead of waiting for ever.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from gemma_jax.cli import main
from gemma_jax.config.job_config import DataConfig
from gemma_jax.data import DataError, read_examples
from gemma_jax.data.checks import build_report

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX"),
]
CFG = DataConfig()
REFUSED = re.escape("not a regular file: give a data file (.jsonl")


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "train.jsonl"
    os.mkfifo(path)
    return path


def test_a_named_pipe_is_refused_without_opening_it(fifo):
    with pytest.raises(DataError, match=f"train.jsonl is a named pipe \\(FIFO\\), {REFUSED}"):
        read_examples(str(fifo), CFG)
    link = fifo.parent / "link.jsonl"
    link.symlink_to(fifo)
    with pytest.raises(DataError, match="link.jsonl is a named pipe"):
        read_examples(str(link), CFG)


@pytest.mark.parametrize("how", ["data.format", "data.source=hf", "hf: prefix"])
def test_a_named_pipe_is_refused_whatever_reads_it(fifo, how):
    path, cfg = str(fifo), CFG
    if how == "data.format":
        path = str(fifo.with_name("pipe"))
        os.rename(fifo, path)
        cfg = replace(CFG, format="csv")
    elif how == "data.source=hf":
        cfg = replace(CFG, source="hf")
    else:
        path = f"hf:{fifo}"
    with pytest.raises(DataError, match=f"is a named pipe \\(FIFO\\), {REFUSED}"):
        read_examples(path, cfg)


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_is_refused(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    with pytest.raises(DataError, match=f"{device} is a device, {REFUSED}"):
        read_examples(device, replace(CFG, format="jsonl"))


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.jsonl"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(DataError, match=f"s.jsonl is a socket, {REFUSED}"):
            read_examples(str(path), CFG)


def test_data_check_and_the_dashboard_report_say_so(fifo, capsys):
    report = build_report(str(fifo), CFG)  # the dashboard's data check
    assert not report.ok and any("is a named pipe" in str(p) for p in report.errors)
    assert main(["data", "check", str(fifo)]) == 1
    out = capsys.readouterr().out
    assert "is a named pipe (FIFO), not a regular file" in out and "empty" not in out


def test_folders_and_empty_files_keep_their_messages(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="is a folder, not a data file"):
        read_examples(str(tmp_path / "folder"), CFG)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_examples(str(tmp_path / "empty.jsonl"), CFG)
