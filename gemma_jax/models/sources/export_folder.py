"""A gemma-jax export folder as a model source: the model inside it, whatever its format.

`gemma-jax export` writes each format in a folder with an `export.json` (gemma_jax.export); people then
pass that folder to `generate`, `serve` or a new run's `model.source`. The model is `preset/` (keras),
the folder itself (hf) or its `.gguf` file (gguf-*). An adapter alone is not a model: it says so.
"""

from __future__ import annotations

import json
import os

from gemma_jax.models.sources.errors import ModelLoadError

MANIFEST = "export.json"  # = gemma_jax.export.listing.MANIFEST (models does not import export)


def export_folder_model(path: str) -> str | None:
    """The model path inside export folder `path`; None when `path` is not an export folder, or is one
    that is itself a loadable model directory (hf)."""
    manifest_path = os.path.join(path, MANIFEST)
    if not os.path.isdir(path) or not os.path.isfile(manifest_path):
        return None
    try:
        with open(manifest_path, encoding="utf-8") as file:
            manifest = json.load(file)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    kind = str(manifest.get("format") or manifest.get("kind") or "")
    if kind in ("keras", "merged"):
        return os.path.join(path, str(manifest.get("preset", "preset")))
    if kind == "hf":
        return None  # the folder itself is a transformers checkpoint: loaded as one
    if kind.startswith("gguf"):
        return os.path.join(path, os.path.basename(str(manifest.get("gguf", ""))))
    if kind in ("adapter", "peft"):
        raise ModelLoadError(_adapter_message(path, kind, manifest))
    return None


def _adapter_message(path: str, kind: str, manifest: dict) -> str:
    """Where to go instead of a LoRA adapter folder: the run it came from, or a merged export of it."""
    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))  # RUN_DIR/export/step-N-KIND
    step = manifest.get("step")
    from_run = (
        f"use the run it came from instead ({run_dir}" + (f" --step {step}" if isinstance(step, int) else "") + "), "
        if os.path.basename(run_dir) == manifest.get("run")
        else ""
    )
    runtime = "transformers with peft" if kind == "peft" else "Keras-Hub"
    return (
        f"'{path}' holds a LoRA adapter ({kind}), not a whole model: {from_run}or export a merged format of the "
        f"run (hf, keras, gguf-*) and give that; the folder's README.md shows how to load the adapter in {runtime}"
    )
