"""Run directories written the way the engine writes them, for the dashboard's state tests."""

from __future__ import annotations

from pathlib import Path

from gemma_jax.config import JobConfig, apply_overrides
from gemma_jax.runs import RunStore
from ui.state.session import Session
from ui.workspace import Workspace

TINY_JOB = (  # a real job that trains in seconds on CPU
    "model.source=tiny:gemma3",
    "data.sequence_length=64",
    "train.batch_size=8",
    "train.max_steps=4",
    "eval.every_steps=2",
    "eval.sample_every_steps=0",
    "checkpoint.async_save=false",
)


def make_session(tmp_path: Path, runner=None) -> Session:
    return Session(Workspace.for_user(tmp_path / "ws", None).ensure(), runner)


def make_run(session: Session, run_id: str, *overrides: str) -> RunStore:
    cfg = apply_overrides(JobConfig(runs_dir=str(session.workspace.runs_dir)), ["model.source=tiny:gemma3", *overrides])
    return RunStore.create(cfg, run_id=run_id)


def train_steps(store: RunStore, first: int, last: int, total: int, *, t0: float = 1000.0, eval_every: int = 0):
    """Metrics records as the trainer writes them, one second of wall time per step."""
    for step in range(first, last + 1):
        record = {
            "step": step,
            "epoch": step / total,
            "loss": 3.0 - step / total,
            "lr": 1e-4,
            "grad_norm": 1.0,
            "tokens_per_s": 500.0,
            "mfu": 0.1,
            "time": t0 + step,
        }
        if eval_every and step % eval_every == 0:
            record["eval_loss"] = 2.5 - step / total
        store.append_metrics(record)
    store.update_status(step=last, total_steps=total)
