"""The batched-generation benchmark runs end to end on a tiny model, and its peer is a real check:
transformers' greedy generate, given our weights, writes the same tokens as our decoder on every row
of a left-padded batch of different prompts (float32)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_train_throughput_smoke import _single_device_env

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "generate_batches.py"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny:gemma3", "tiny:gemma"])
def test_tiny_run_prints_json_and_transformers_agrees_on_every_row(model):
    new = 12
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", model, "--dtype", "float32", "--batches", "1,3"]
        + ["--new-tokens", str(new), "--runs", "1"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env=_single_device_env(),
        cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for batch in (1, 3):
        for key in ("ours_tokens_per_s", "transformers_tokens_per_s", "ratio_vs_transformers"):
            assert result[f"{key}_b{batch}"] > 0, (key, batch)
        assert result[f"common_prefix_b{batch}"] == [new] * batch  # every row, every token
    assert result["platform"] == "cpu" and result["transformers_device"] == "cpu"
    assert result["ours_weight_dtype"] == "float32" and result["dtype"] == "float32"
