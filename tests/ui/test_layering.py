"""The layering the dashboard relies on: state without Panel, an engine that never imports the UI,
and a server that starts without JAX (it must never open an accelerator a job needs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_state_classes_import_neither_panel_nor_jax():
    state = sorted(f"ui.state.{p.stem}" for p in (ROOT / "ui" / "state").glob("*.py") if p.stem != "__init__")
    assert len(state) > 10
    loaded = _imported_after(state)
    assert "panel" not in loaded and "jax" not in loaded, sorted(loaded & {"panel", "jax"})


def test_the_server_side_of_jobs_monitor_and_generation_does_not_import_jax():
    loaded = _imported_after(["gemma_jax.jobs", "gemma_jax.monitor", "gemma_jax.serve", "gemma_jax.runs", "ui.serve"])
    assert "jax" not in loaded and "keras" not in loaded


def test_the_engine_never_imports_the_ui():
    """Only the CLI's `gemma-jax ui` command reaches into ui/, inside the function that serves it."""
    offenders = []
    for path in (ROOT / "gemma_jax").rglob("*.py"):
        for line in path.read_text().splitlines():
            if line.lstrip().startswith(("import ui", "from ui")) and not (path.name == "cli.py" and line[0] == " "):
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []
