"""Write one checkpoint's export folder: adapter/, merged_preset/, config.yaml, export.json and a zip.

The adapter is the LoRA factors as safetensors (one A and one B per adapted
layer, named by the layer's Keras path) with a JSON of the LoRA settings; the
layer computes `kernel + alpha/rank · A @ B`. The merged preset is a plain
Keras-Hub CausalLM (backbone with the adapters folded in, QLoRA bases
dequantized, and the run's tokenizer) saved with `save_to_preset`, loadable with
`keras_hub.models.*CausalLM.from_preset(dir)` or `gemma-jax generate dir`.
Everything is written to a temporary folder and moved into place at the end, so
a listed export is always complete.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from keras import ops
from safetensors.numpy import save_file

from gemma_jax.export.listing import MANIFEST, export_dir
from gemma_jax.models.decoding.keras_causal_lm import keras_causal_lm
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.lora import lora_layers, merged_copy
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.run_model import load_run_model
from gemma_jax.train.setup import LORA_KINDS

PRESET_SEQUENCE_LENGTH = 1024  # the preprocessor's default length in the saved preset


def write_adapter(model: LoadedModel, folder: Path, settings: dict) -> int:
    """adapter.safetensors and adapter_config.json of `model`'s LoRA layers; returns #layers."""
    layers = lora_layers(model.backbone)
    tensors = {}
    for layer in layers:
        tensors[f"{layer.path}/lora_kernel_a"] = np.asarray(ops.convert_to_numpy(layer.lora_kernel_a.value))
        tensors[f"{layer.path}/lora_kernel_b"] = np.asarray(ops.convert_to_numpy(layer.lora_kernel_b.value))
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter.safetensors"))
    config = {
        **settings,
        "layers": [layer.path for layer in layers],
        "formula": "kernel + alpha / rank * (lora_kernel_a @ lora_kernel_b), as Keras EinsumDense LoRA",
    }
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return len(layers)


def write_merged_preset(model: LoadedModel, folder: Path, lora: bool) -> None:
    """A Keras-Hub CausalLM preset of the model with its adapters folded in."""
    backbone = merged_copy(model.backbone) if lora else model.backbone
    causal_lm = keras_causal_lm(dataclasses.replace(model, backbone=backbone), PRESET_SEQUENCE_LENGTH)
    causal_lm.save_to_preset(str(folder))


def _zip(folder: Path, archive: Path, name: str) -> None:
    """Every file of `folder` under `name`/ in `archive` (which may sit inside the folder)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path != archive:
                bundle.write(path, Path(name) / path.relative_to(folder))


def export_run(
    run_dir: str,
    step: int | None = None,
    *,
    merged: bool = True,
    progress: Callable[[str], None] = lambda message: None,
) -> Path:
    """Export checkpoint `step` (default latest) of `run_dir`; returns RUN_DIR/export/step-<N>/."""
    store = RunStore.open(run_dir)
    cfg = store.config()
    progress(f"loading {run_dir}" + (f" at step {step}" if step is not None else ""))
    model, step = load_run_model(run_dir, step)
    target = export_dir(run_dir, step)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    work.chmod(0o755)  # mkdtemp makes it private; the dashboard may serve the files as another user
    method = cfg.method
    lora = method.kind in LORA_KINDS
    settings = {"base_model": cfg.model.source, "step": step, "method": method.kind}
    if lora:
        settings.update(
            rank=method.lora_rank,
            alpha=method.lora_alpha,
            targets=list(method.lora_targets),
            base_quantization=method.base_quantization,
        )
        progress("writing the LoRA adapter")
        write_adapter(model, work / "adapter", settings)
    if merged:
        progress("writing the merged Keras preset" if lora else "writing the Keras preset")
        write_merged_preset(model, work / "merged_preset", lora)
    shutil.copyfile(store.config_path, work / "config.yaml")
    progress("zipping")
    _zip(work, work / f"{target.name}.zip", target.name)
    manifest = {**settings, "adapter": lora, "merged": merged, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)  # an export of the same step is replaced
    work.rename(target)
    return target
