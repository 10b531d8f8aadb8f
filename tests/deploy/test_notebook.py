"""The notebooks in notebooks/: the Colab TPU one and the Kaggle TPU one.

Fast: each is valid nbformat 4, stored without outputs, explains its install variable in its top
markdown, names no placeholder URL, and keeps its settings in one cell tagged `parameters`.

Slow: each is executed top to bottom by nbclient in a real Jupyter kernel started from this
interpreter (the project's virtualenv), cwd a temporary folder, on CPU. The settings are overridden the
way papermill does it: a cell tagged `injected-parameters` is inserted right after the `parameters`
cell (a tiny random-init Gemma, a few steps, the output folder under tmp_path). matplotlib really
renders the live loss plot; the test checks there are no errors, that the plot is a PNG, and what the
run directory holds afterwards (a completed run, an evaluation report, an export).
"""

from __future__ import annotations

import ast
import base64
import json
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {
    "colab": ROOT / "notebooks" / "finetune_gemma_colab_tpu.ipynb",
    "kaggle": ROOT / "notebooks" / "finetune_gemma_kaggle_tpu.ipynb",
}
SETTINGS = ("GEMMA_JAX_SOURCE", "MODEL", "DATA", "MAX_STEPS", "EVAL_EXAMPLES", "EXPORT_FORMATS", "OUTPUT_DIR")
SECTIONS = (
    "## Install",
    "## The TPU",
    "## Pick a model",
    "## The job",
    "## The data",
    "## Fine-tune",
    "## Base vs fine-tuned",
    "## Evaluate",
    "## Export",
)
PLATFORM_WORDS = {
    "colab": ("google.colab", "/content/", "Runtime → Change runtime type → TPU"),
    "kaggle": ("kaggle_secrets", "/kaggle/working", "/kaggle/input", "TPU VM v3-8", "TPU v5e-8"),
}
# What a placeholder looks like: the old OWNER account, a made-up host, <your ...> or YOUR_... stand-ins.
PLACEHOLDERS = re.compile(r"\bOWNER\b|YOUR_|<your|\bexample\.(com|org)\b")

TINY_STEPS = 6


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _parameters_index(notebook) -> int:
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell is tagged `parameters`"
    return tagged[0]


@pytest.mark.parametrize("platform", sorted(NOTEBOOKS))
def test_notebook_structure(platform):
    path = NOTEBOOKS[platform]
    notebook = _read(path)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata.kernelspec.name == "python3"
    assert notebook.metadata.kernelspec.language == "python"

    cells = notebook.cells
    assert cells[0].cell_type == "markdown"
    top = cells[0].source
    assert "`GEMMA_JAX_SOURCE`" in top and "install" in top.lower(), "the top markdown explains the install variable"
    assert "`parameters`" in top and "injects" in top, "the top markdown explains how settings are overridden"
    for cell in cells:
        assert not PLACEHOLDERS.search(cell.source), f"a placeholder in {platform}: {cell.source[:200]}"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "store the notebook without outputs"
            ast.parse(cell.source)  # plain Python: no `!` shell lines or `%` magics

    # One settings cell of plain assignments (so that an injected cell after it overrides them), first of the code.
    index = _parameters_index(notebook)
    assert index == 1
    assigned = {}
    for statement in ast.parse(cells[index].source).body:
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1
        assigned[statement.targets[0].id] = ast.literal_eval(statement.value)
    assert set(assigned) == set(SETTINGS)
    assert assigned["MODEL"] == "gemma3_270m", "the embedded model, offline, by default"
    assert assigned["DATA"] == "example"

    # The install cell comes next, skips itself when gemma_jax imports, and installs from the variable.
    install = cells[index + 2]
    assert install.cell_type == "code"
    assert 'find_spec("gemma_jax") is not None' in install.source
    assert '"pip", "install"' in install.source and "GEMMA_JAX_SOURCE" in install.source

    headings = [line for cell in cells if cell.cell_type == "markdown" for line in cell.source.splitlines()]
    for section in SECTIONS:
        assert any(line.startswith(section) for line in headings), f"{platform}: no {section!r} section"
    text = " ".join(" ".join(cell.source.split()) for cell in cells)  # markdown wraps lines anywhere
    for word in PLATFORM_WORDS[platform]:
        assert word in text, f"{platform}: {word!r} is not mentioned"
    for word in ("jax.devices()", "make_mesh", "KAGGLE_USERNAME", "KAGGLE_KEY", "evaluate.__main__", "export.__main__"):
        assert word in text


def _kernel_manager(folder: Path):
    """A kernel manager whose `python3` kernel is this interpreter (the virtualenv's), whatever Jupyter finds."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    return KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))


def _outputs(cell) -> list:
    return cell.get("outputs", []) if cell.cell_type == "code" else []


@pytest.mark.slow
@pytest.mark.parametrize("platform", sorted(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(platform, tmp_path, monkeypatch):
    import nbclient

    notebook = _read(NOTEBOOKS[platform])
    output_dir = tmp_path / "output"
    injected = (
        'MODEL = "tiny:gemma3"\n'
        f"MAX_STEPS = {TINY_STEPS}\n"
        "EVAL_EXAMPLES = 4\n"
        'EXPORT_FORMATS = "peft"\n'
        f"OUTPUT_DIR = {str(output_dir)!r}\n"
    )
    index = _parameters_index(notebook)
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))
    work = tmp_path / "work"
    work.mkdir()
    # The kernel inherits this environment: CPU only, the 8 simulated devices of tests/conftest.py (a v3-8's count).
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("GEMMA_JAX_LOG_DIR", str(tmp_path / "logs"))

    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        km=_kernel_manager(tmp_path),
        resources={"metadata": {"path": str(work)}},
    )
    started = time.perf_counter()
    client.execute(cleanup_kc=True)  # shut the kernel down afterwards (it is ours although we made its manager)
    wall_s = time.perf_counter() - started
    print(f"{NOTEBOOKS[platform].name} executed in {wall_s:.1f} s")

    outputs = [output for cell in notebook.cells for output in _outputs(cell)]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, "\n".join(f"{o.ename}: {o.evalue}" for o in errors)
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "Traceback" not in stderr, stderr[-3000:]
    stdout = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")

    # The live plot: a real PNG drawn by matplotlib, redrawn by the thread that follows metrics.jsonl.
    train_cell = next(c for c in notebook.cells if c.cell_type == "code" and "LiveLossPlot(store" in c.source)
    images = [o for o in _outputs(train_cell) if "image/png" in o.get("data", {})]
    assert len(images) == 1, "one plot, updated in place"
    png = base64.b64decode(images[0]["data"]["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    redraws = re.search(r"plot redrawn (\d+) times", stdout)
    assert redraws and int(redraws.group(1)) >= 1, stdout[-2000:]

    assert "8 CPU device(s)" in stdout and "fsdp=8" in stdout
    assert "base:" in stdout and "tuned:" in stdout

    (run_dir,) = [p for p in output_dir.iterdir() if p.is_dir()]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "completed" and status["step"] == TINY_STEPS
    assert status["hardware"]["platform"] == "cpu"
    steps = [json.loads(line).get("step") for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, TINY_STEPS + 1))
    report = json.loads((run_dir / "eval" / f"step-{TINY_STEPS}-validation" / "report.json").read_text())
    assert report["examples"] == 4 and "loss" in report["tuned"] and "loss" in report["base"]
    export = run_dir / "export" / f"step-{TINY_STEPS}-peft"
    assert (export / "adapter_model.safetensors").is_file() and (export / "README.md").is_file()
