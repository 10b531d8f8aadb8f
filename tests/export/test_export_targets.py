"""An export never replaces what it did not write: a folder of the user's that has an export's name, an
--out that is a file, or one inside the run's checkpoints is refused, before the model loads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import untrained_run

from gemma_jax.export.exporter import _check_replaceable, export_run


def test_a_users_folder_with_an_exports_name_is_kept(tmp_path):
    mine = tmp_path / "out" / "step-2-adapter"
    mine.mkdir(parents=True)
    (mine / "mine.txt").write_text("my notes")
    with pytest.raises(ValueError, match=r"step-2-adapter already exists and is not a gemma-jax export"):
        _check_replaceable(mine)
    assert (mine / "mine.txt").read_text() == "my notes"
    (mine / "export.json").write_text("{}")  # an earlier export of that step and format is replaced
    _check_replaceable(mine)
    _check_replaceable(tmp_path / "out" / "step-3-adapter")  # nothing there yet


def test_an_out_that_is_a_file_or_inside_the_checkpoints_is_refused_before_loading(tmp_path):
    run = untrained_run(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="is a file; give a folder"):
        export_run(str(run), out=str(afile))
    with pytest.raises(ValueError, match="inside the run's checkpoints folder"):
        export_run(str(run), out=str(run / "checkpoints"))
    assert afile.read_text() == "x"
