"""Write one checkpoint's exports: the adapter and the merged model, each in a folder of its own.

The adapter is the LoRA factors as safetensors (one A and one B per adapted
layer, named by the layer's Keras path) with a JSON of the LoRA settings; the
layer computes `kernel + alpha/rank · A @ B`. The merged model is a plain
Keras-Hub CausalLM preset (backbone with the adapters folded in, QLoRA bases
dequantized, weights cast to bfloat16: half the bytes of float32, the dtype Gemma
ships in, and the run's tokenizer) saved with `save_to_preset`, loadable with
`keras_hub.models.CausalLM.from_preset(dir, dtype="bfloat16")` or `gemma-jax generate dir`.

Each kind's folder (listing.py) holds its files, config.yaml, README.md and export.json, and a zip
of all of them. It is written to a temporary folder and moved into place at the end, replacing
only an earlier export of the same step and kind, so a listed export is always complete and an
adapter export never touches the merged one.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from keras import ops
from safetensors.numpy import save_file

from gemma_jax.export.listing import KINDS, MANIFEST, README, archive_stem, export_dir
from gemma_jax.export.progress import ByteProgress, FolderWatch, folder_bytes, format_size
from gemma_jax.export.readme import TOKENIZER_FILE, readme_text
from gemma_jax.jobs.progress import ProgressReporter, silent
from gemma_jax.models.decoding.keras_causal_lm import keras_causal_lm
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.lora import lora_layers, merged_copy
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.run_model import load_run_model
from gemma_jax.train.setup import LORA_KINDS

PRESET_SEQUENCE_LENGTH = 1024  # the preprocessor's default length in the saved preset
MERGED_DTYPE = "bfloat16"
PRESET_FOLDER = "preset"
CHUNK_BYTES = 1024 * 1024
STORED_SUFFIXES = (".h5", ".safetensors")  # weights barely compress; deflating 500 MB costs a minute


def write_adapter(model: LoadedModel, folder: Path, settings: dict) -> int:
    """adapter.safetensors and adapter_config.json of `model`'s LoRA layers; returns #layers."""
    layers = lora_layers(model.backbone)
    tensors = {}
    for layer in layers:
        tensors[f"{layer.path}/lora_kernel_a"] = np.asarray(ops.convert_to_numpy(layer.lora_kernel_a.value))
        tensors[f"{layer.path}/lora_kernel_b"] = np.asarray(ops.convert_to_numpy(layer.lora_kernel_b.value))
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter.safetensors"))
    config = {
        **settings,
        "layers": [layer.path for layer in layers],
        "formula": "kernel + alpha / rank * (lora_kernel_a @ lora_kernel_b), as Keras EinsumDense LoRA",
    }
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return len(layers)


def merged_bytes(model: LoadedModel) -> int:
    """About what the merged preset's weights take on disk: every base weight in bfloat16 (2 bytes)."""
    return 2 * sum(int(np.prod(v.shape)) for v in model.backbone.weights if "lora_kernel" not in v.path)


def write_merged_preset(model: LoadedModel, folder: Path, progress: ProgressReporter = silent) -> None:
    """A Keras-Hub CausalLM preset of the model with its adapters (if any) folded in, weights in bfloat16."""
    backbone = merged_copy(model.backbone, dtype=MERGED_DTYPE)
    causal_lm = keras_causal_lm(dataclasses.replace(model, backbone=backbone), PRESET_SEQUENCE_LENGTH)
    folder.mkdir(parents=True, exist_ok=True)
    with FolderWatch(folder, ByteProgress(progress, "writing the merged model (bf16)", merged_bytes(model))):
        causal_lm.save_to_preset(str(folder))


def write_zip(folder: Path, archive: Path, name: str, progress: ProgressReporter = silent) -> None:
    """Every file of `folder` under `name`/ in `archive` (which may sit inside the folder), streamed in
    chunks with the bytes reported; weights are stored, text deflated."""
    files = [path for path in sorted(folder.rglob("*")) if path.is_file() and path != archive]
    report = ByteProgress(progress, "zipping", sum(path.stat().st_size for path in files))
    done = 0
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            info = zipfile.ZipInfo.from_file(path, (Path(name) / path.relative_to(folder)).as_posix())
            info.compress_type = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            with path.open("rb") as source, bundle.open(info, "w", force_zip64=True) as target:
                while chunk := source.read(CHUNK_BYTES):
                    target.write(chunk)
                    done += len(chunk)
                    report(done)
    report(done, final=True)


def _move_into_place(work: Path, target: Path) -> None:
    """`work` becomes `target`; an earlier export of the same step and kind (only that) is removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        target.rename(old)
    work.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_kinds(requested: Sequence[str] | None, lora: bool, run_dir: str) -> list[str]:
    """The kinds to write: `requested` (None: every kind the run has); an adapter needs a LoRA run."""
    if requested is None:
        return [kind for kind in KINDS if lora or kind != "adapter"]
    unknown = [kind for kind in requested if kind not in KINDS]
    if unknown or not requested:
        raise ValueError(f"unknown export kind {', '.join(unknown) or '(none)'}; choose from {', '.join(KINDS)}")
    if not lora and "adapter" in requested:
        raise ValueError(
            f"run {run_dir} was fine-tuned in full: it has no adapter to export; export the merged model instead"
        )
    return [kind for kind in KINDS if kind in requested]


def export_run(
    run_dir: str,
    step: int | None = None,
    *,
    kinds: Sequence[str] | None = None,
    progress: ProgressReporter = silent,
) -> list[Path]:
    """Export checkpoint `step` (default latest) of `run_dir` as `kinds` (default: the adapter of a LoRA
    run and the merged model); returns the folders written, RUN_DIR/export/step-<N>-<kind>/."""
    store = RunStore.open(run_dir)
    cfg = store.config()
    method = cfg.method
    lora = method.kind in LORA_KINDS
    wanted = export_kinds(kinds, lora, run_dir)
    progress("loading the checkpoint" + (f" at step {step}" if step is not None else ""))
    model, step = load_run_model(run_dir, step)
    settings = {"run": store.path.name, "base_model": cfg.model.source, "step": step, "method": method.kind}
    if lora:
        settings.update(
            rank=method.lora_rank,
            alpha=method.lora_alpha,
            targets=list(method.lora_targets),
            base_quantization=method.base_quantization,
        )
    return [_export_kind(store, model, kind, settings, progress) for kind in wanted]


def _export_kind(store: RunStore, model: LoadedModel, kind: str, settings: dict, progress: ProgressReporter) -> Path:
    step = settings["step"]
    target = export_dir(store.path, step, kind)
    stem = archive_stem(store.path, step, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    work.chmod(0o755)  # mkdtemp makes it private; the dashboard may serve the files as another user
    try:
        manifest = {**settings, "kind": kind, "archive": f"{stem}.zip"}
        if kind == "adapter":
            progress("writing the LoRA adapter")
            manifest["layers"] = [layer.path for layer in lora_layers(model.backbone)]
            write_adapter(model, work, settings)
            tokenizer = store.path / TOKENIZER_FILE
            if tokenizer.is_file():  # a tiny:/random: base is rebuilt from the run's vocabulary
                shutil.copyfile(tokenizer, work / TOKENIZER_FILE)
                manifest["tokenizer"] = TOKENIZER_FILE
        else:
            write_merged_preset(model, work / PRESET_FOLDER, progress)
            manifest.update(dtype=MERGED_DTYPE, preset=PRESET_FOLDER)
        shutil.copyfile(store.config_path, work / "config.yaml")
        manifest.update(
            adapter=kind == "adapter", merged=kind == "merged", created=time.strftime("%Y-%m-%dT%H:%M:%S%z")
        )
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (work / README).write_text(readme_text(kind, store.config(), manifest, f"{stem}.zip"), encoding="utf-8")
        write_zip(work, work / f"{stem}.zip", stem, progress)
        _move_into_place(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    progress(f"wrote the {kind} export", detail=format_size(folder_bytes(target)))
    return target
