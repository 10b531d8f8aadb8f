"""An adapter export given as a model says where to go instead: its run, or a merged export."""

from __future__ import annotations

import json

import pytest

from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.models.sources.export_folder import export_folder_model


@pytest.mark.parametrize("kind", ["adapter", "peft"])
def test_an_adapter_folder_names_its_run_and_step(tmp_path, kind):
    folder = tmp_path / "pirates-20261207" / "export" / f"step-3-{kind}"
    folder.mkdir(parents=True)
    (folder / "export.json").write_text(json.dumps({"kind": kind, "run": "pirates-20261207", "step": 3}))
    with pytest.raises(ModelLoadError) as refused:
        export_folder_model(str(folder))
    message = str(refused.value)
    assert f"({tmp_path / 'pirates-20261207'} --step 3)" in message and "merged format" in message
    assert ("peft" in message) == (kind == "peft")


def test_a_moved_adapter_folder_still_says_what_to_do(tmp_path):
    (tmp_path / "export.json").write_text(json.dumps({"kind": "adapter", "run": "elsewhere", "step": 3}))
    message = str(pytest.raises(ModelLoadError, export_folder_model, str(tmp_path)).value)
    assert "run it came from" not in message and "export a merged format" in message
