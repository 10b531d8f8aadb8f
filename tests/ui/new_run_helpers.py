"""Shared pieces of the New-run wizard tests: a session, a wizard on injected hardware, a CSV."""

from __future__ import annotations

from pathlib import Path

from gemma_jax.config import JobConfig
from gemma_jax.monitor import Hardware
from ui.state.new_run import NewRunState
from ui.state.session import Session
from ui.workspace import Workspace

GIB = 2**30
BAD_ROW_CSV = b"prompt,response\nhello,hi there\nwhat is 2+2,four\nbroken,\nok,fine\n"


def hardware(
    kind: str = "cpu", per_device_gib: float | None = None, devices: int = 1, host_gib: float = 16
) -> Hardware:
    """Hardware as gemma_jax.monitor describes it, injected so the memory check does not depend on this host."""
    per_device = int(per_device_gib * GIB) if per_device_gib else None
    return Hardware(
        kind=kind,
        name=kind.upper(),
        device_count=devices,
        memory_per_device_bytes=per_device,
        host_memory_bytes=int(host_gib * GIB),
    )


def make_wizard(tmp_path: Path, runner=None, hw=None, max_upload_mb: int = 16) -> NewRunState:
    workspace = Workspace(tmp_path / "ws", max_upload_mb=max_upload_mb).ensure()
    wizard = NewRunState(Session(workspace, runner), hardware=hw or hardware())
    # The wizard opens on the quick-start job (the real 270M); these tests start from the tiny defaults.
    wizard.config = JobConfig(runs_dir=str(workspace.runs_dir))
    return wizard


QA_CSV = b"question,answer\nWhat is up?,The sky.\nWho are you?,A test.\nWhere is it?,Here.\n"
ALPACA_JSONL = (
    b'{"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"}\n'
    b'{"instruction": "Say hello.", "input": "", "output": "Hello!"}\n'
    b'{"instruction": "Name a colour.", "input": "", "output": "Blue"}\n'
)
