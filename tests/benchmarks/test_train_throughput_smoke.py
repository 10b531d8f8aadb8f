"""Smoke test: the throughput benchmark runs end to end in quick mode and ends with its JSON line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"
REQUIRED = (
    "ours_tokens_per_s",
    "keras_fit_tokens_per_s",
    "ratio_vs_keras_fit",
    "mfu",
    "useful_ratio_vs_guide",
    "peak_rss_gb",
    "ours_useful_tokens_per_s",
    "guide_useful_tokens_per_s",
    "matmul_peak_tflops",
    "ours_tflops",
    "keras_fit_tflops",
    "peft_tokens_per_s",
    "ratio_vs_peft",
    "matmul_peak_float32_tflops",
    "matmul_peak_bfloat16_tflops",
)


def _single_device_env() -> dict[str, str]:
    """The benchmark measures one CPU device: drop the simulated devices tests/conftest.py asks for."""
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join(flags)
    return env


@pytest.mark.slow
def test_quick_benchmark_prints_json_summary():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env=_single_device_env(),
        cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in REQUIRED:
        assert isinstance(result[key], (int, float)) and result[key] > 0, (key, result.get(key))
    assert result["steps"] == 2 and result["sequence_length"] == 64 and result["quick"] is True
    assert result["devices_seen"] == 1
    assert result["keras_path"]
    assert result["dtype"] == "float32" and result["peft"]["device"] == "cpu"
