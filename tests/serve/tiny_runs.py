"""Real tiny runs (tiny:gemma3, a few steps) for the worker, evaluation, export and dashboard tests.

Training one costs seconds, so each kind is trained once per test session and
every test gets its own copy (tests write eval/ and export/ into it).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))

from engine_helpers import fast_config

from gemma_jax.runs.run_store import RunStore

_TRAINED: dict[str, Path] = {}
TINY_RUN = (
    "train.max_steps=3",
    "optimizer.learning_rate=3e-3",
    "data.sequence_length=64",
    "checkpoint.every_steps=2",
    "data.test_fraction=0.1",
    "eval.every_steps=3",  # eval_loss logged at the last step: what evaluate must reproduce
    "eval.max_new_tokens=12",
)


def tiny_run(tmp_path_factory, method: str = "lora", run_id: str = "tiny", runs_dir: Path | None = None) -> Path:
    """A copy (in `runs_dir`, default a new folder) of a completed 3-step run with checkpoints at steps 2 and 3."""
    if method not in _TRAINED:
        from gemma_jax.train.trainer import train_run

        root = tmp_path_factory.mktemp(f"trained-{method}")
        store = RunStore.create(fast_config(root, f"method.kind={method}", *TINY_RUN), run_id=run_id)
        assert train_run(str(store.path), progress=False) == "completed", store.read_status()
        _TRAINED[method] = store.path
    target = (runs_dir or tmp_path_factory.mktemp("runs")) / run_id
    shutil.copytree(_TRAINED[method], target)
    return target


def untrained_run(tmp_path, run_id: str = "fresh", runs_dir: Path | None = None) -> Path:
    """A run directory (in `runs_dir`, default tmp_path/runs) that has not saved any checkpoint yet."""
    cfg = fast_config(tmp_path, "method.kind=lora", *TINY_RUN)
    if runs_dir is not None:
        cfg = replace(cfg, runs_dir=str(runs_dir))
    return RunStore.create(cfg, run_id=run_id).path
