"""Write one checkpoint's exports, each format (formats.py) in a folder of its own.

adapter: the LoRA factors as safetensors (one A and one B per adapted layer, named by the layer's
Keras path) with a JSON of the LoRA settings; the layer computes `kernel + alpha/rank · A @ B`.
keras: a plain Keras-Hub CausalLM preset (backbone with the adapters folded in, QLoRA bases
dequantized, weights cast to bfloat16, the run's tokenizer) saved with `save_to_preset`.
hf: a transformers folder of the merged model in its own dtype (transformers_export.py); peft: the
adapter under PEFT's names, converted exactly (peft_export.py); gguf-*: the merged model for
llama.cpp/Ollama (gguf_export.py), each quantized file with its validation perplexity against the
unquantized model (quality.py).

Each folder (listing.py) holds its files, config.yaml, a README.md model card, lineage.json and
export.json, and a zip of all of them. It is written to a temporary folder and moved into place at the
end, replacing only an earlier export of the same step and format, so a listed export is always
complete (a killed export leaves only a hidden `.step-N-FORMAT.*.part` folder, never listed).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
from keras import ops
from safetensors.numpy import save_file

from gemma_jax.export.destinations import push_to_hub as hub_push
from gemma_jax.export.destinations import upload_to_gcs
from gemma_jax.export.formats import FORMATS, parse_formats
from gemma_jax.export.lineage import LINEAGE
from gemma_jax.export.lineage import lineage as export_lineage
from gemma_jax.export.listing import MANIFEST, README, archive_stem, export_dir
from gemma_jax.export.peft_base import peft_base
from gemma_jax.export.progress import ByteProgress, FolderWatch, folder_bytes, format_size
from gemma_jax.export.readme import readme_text
from gemma_jax.export.serving import SERVING_FILE, serving_spec
from gemma_jax.jobs.progress import ProgressReporter, silent
from gemma_jax.models.decoding.keras_causal_lm import keras_causal_lm
from gemma_jax.models.generation import default_weight_dtype
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.lora import lora_layers, merged_copy
from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import CONFIG_FILE, TOKENIZER_FILE, export_folder_name
from gemma_jax.train.run_model import load_run_model
from gemma_jax.train.setup import LORA_KINDS

PRESET_SEQUENCE_LENGTH = 1024  # the preprocessor's default length in the saved preset
MERGED_DTYPE = "bfloat16"
PRESET_FOLDER = "preset"
CHUNK_BYTES = 1024 * 1024
STORED_SUFFIXES = (".h5", ".safetensors", ".gguf")  # weights barely compress; deflating 500 MB costs a minute


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


def _remove_abandoned(target: Path) -> None:
    """Delete what killed exports of `target` left (`.step-N-FORMAT.<pid>.*.part` of a dead process)."""
    for part in target.parent.glob(f".{target.name}.*.part"):
        pid = part.name.removeprefix(f".{target.name}.").split(".")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(part, ignore_errors=True)


def _check_out(root: Path, store: RunStore) -> None:
    """Refuse an --out that is a file, or that lies inside the run's checkpoints (before the model loads)."""
    if root.exists() and not root.is_dir():
        raise ValueError(f"--out {root} is a file; give a folder (it is created if missing)")
    checkpoints = store.checkpoints_dir.resolve()
    if root.resolve().is_relative_to(checkpoints):
        raise ValueError(f"--out {root} is inside the run's checkpoints folder; give a folder outside {checkpoints}")


def _check_replaceable(target: Path) -> None:
    """In a folder the user named (--out), an earlier export of the same step and format is replaced;
    anything else of that name is the user's."""
    if target.exists() and not (target / MANIFEST).is_file():
        raise ValueError(
            f"{target} already exists and is not a gemma-jax export ({MANIFEST} is missing), so it is not replaced; "
            "move it away, or export to another folder (--out)"
        )


def _move_into_place(work: Path, target: Path) -> None:
    """`work` becomes `target`; an earlier export of the same step and kind (only that) is removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        target.rename(old)
    work.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class ExportResult:
    """What `export_run` wrote: the step, each format's folder, size and time, and a model card."""

    step: int
    formats: dict[str, dict] = field(default_factory=dict)  # name -> {"path", "bytes", "seconds", ...}
    model_card: str | None = None

    @property
    def folders(self) -> list[Path]:
        return [Path(entry["path"]) for entry in self.formats.values()]

    def to_json(self) -> dict:
        return {"step": self.step, "formats": self.formats, "model_card": self.model_card}


def export_run(
    run_dir: str,
    step: int | None = None,
    *,
    formats: str | Sequence[str] | None = None,
    out: str | None = None,
    push_to_hub: str | None = None,
    progress: ProgressReporter = silent,
) -> ExportResult:
    """Export checkpoint `step` (default latest) of `run_dir` in `formats` (names of formats.py, a list or
    comma-separated, or "all"; default DEFAULT_FORMATS) to OUT/step-<N>-<format>/ (OUT: a local folder, default RUN_DIR/export; or gs://,
    where the folders are written in RUN_DIR/export and then uploaded). `push_to_hub` uploads the one
    format asked for to that Hugging Face repo."""
    store = RunStore.open(run_dir)
    cfg = store.config()
    method = cfg.method
    lora = method.kind in LORA_KINDS
    wanted = parse_formats(formats if formats is None or isinstance(formats, str) else ",".join(formats), lora, run_dir)
    if push_to_hub and len(wanted) != 1:
        raise ValueError(f"push one format per Hub repository (--formats hf, for example), not {', '.join(wanted)}")
    local_root = Path(out) if out and not out.startswith("gs://") else store.export_dir
    _check_out(local_root, store)
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
    job = _ExportJob(store, cfg, model, settings, local_root, progress)
    result = ExportResult(step)
    for name in wanted:
        started = time.perf_counter()
        folder = job.write(name)
        entry = {"path": str(folder), "bytes": folder_bytes(folder), "seconds": round(time.perf_counter() - started, 2)}
        if name in job.quality:
            entry["quality"] = job.quality[name]
        if out and out.startswith("gs://"):
            progress(f"uploading the {name} export", detail=out)
            entry["uploaded"] = upload_to_gcs(folder, out)
        if push_to_hub:
            progress(f"pushing the {name} export to the Hugging Face Hub", detail=push_to_hub)
            entry["pushed"] = hub_push(folder, push_to_hub)
        result.formats[name] = entry
        result.model_card = result.model_card or str(folder / README)
    return result


class _ExportJob:
    """Writes one checkpoint's formats; the merged float model and the held-out perplexity are computed once."""

    def __init__(self, store, cfg, model, settings, root: Path, progress: ProgressReporter):
        self.store, self.cfg, self.model, self.settings, self.root, self.progress = (
            store,
            cfg,
            model,
            settings,
            root,
            progress,
        )
        self.quality: dict[str, dict] = {}
        self._merged: LoadedModel | None = None
        self._reference: tuple[float | None, int, list] | None = None

    @property
    def merged(self) -> LoadedModel:
        """The fine-tuned model with its adapters folded in, in its own float dtype (QLoRA: dequantized)."""
        if self._merged is None:
            self._merged = dataclasses.replace(self.model, backbone=merged_copy(self.model.backbone))
        return self._merged

    def write(self, kind: str) -> Path:
        step = self.settings["step"]
        target = self.root / export_folder_name(step, kind)
        export_dir(self.store.path, step, kind)  # checks the name
        stem = archive_stem(self.store.path, step, kind)
        if self.root != self.store.export_dir:  # the run's own export/ holds nothing but exports
            _check_replaceable(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(target)
        work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".part"))
        work.chmod(0o755)  # mkdtemp makes it private; the dashboard may serve the files as another user
        try:
            manifest = {**self.settings, "kind": kind, "format": kind, "archive": f"{stem}.zip"}
            self.progress(f"writing the {FORMATS[kind].label} export")
            manifest.update(self._write_files(kind, work, stem))
            shutil.copyfile(self.store.config_path, work / CONFIG_FILE)
            manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            lineage = export_lineage(self.cfg, self.store.config_path, self.store.path.name, step, kind)
            (work / LINEAGE).write_text(json.dumps(lineage, indent=2) + "\n", encoding="utf-8")
            spec = serving_spec(kind, manifest, f"{self.store.path.name}-step-{step}-{kind}")
            (work / SERVING_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
            readme = readme_text(kind, self.cfg, manifest, f"{stem}.zip", self.store.path, lineage)
            (work / README).write_text(readme, encoding="utf-8")
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            write_zip(work, work / f"{stem}.zip", stem, self.progress)
            for path in work.rglob("*"):  # atomic writers create private files; the dashboard may serve them
                path.chmod(0o755 if path.is_dir() else 0o644)
            _move_into_place(work, target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        self.progress(f"wrote the {kind} export", detail=format_size(folder_bytes(target)))
        return target

    def _write_files(self, kind: str, work: Path, stem: str) -> dict:
        """The format's own files in `work`; returns what the manifest adds."""
        if kind == "adapter":
            write_adapter(self.model, work, self.settings)
            extra = {"layers": [layer.path for layer in lora_layers(self.model.backbone)]}
            tokenizer = self.store.tokenizer_path
            if tokenizer.is_file():  # a tiny:/random: base is rebuilt from the run's vocabulary
                shutil.copyfile(tokenizer, work / TOKENIZER_FILE)
                extra["tokenizer"] = TOKENIZER_FILE
            return extra
        if kind == "keras":
            write_merged_preset(self.model, work / PRESET_FOLDER, self.progress)
            return {"dtype": MERGED_DTYPE, "preset": PRESET_FOLDER}
        if kind == "hf":
            from gemma_jax.export.transformers_export import write_transformers

            dtype = default_weight_dtype(self.merged.backbone)  # the model's own: float32 from a CPU run
            write_transformers(self.merged, work, dtype=dtype)
            return {"dtype": dtype}
        if kind == "peft":
            from gemma_jax.export.peft_export import max_rank, write_peft

            base = peft_base(self.cfg)
            config = write_peft(self.model, work, {**self.settings, "base_model_name_or_path": base["peft_base"]})
            return {**base, "max_lora_rank": max_rank(config)}  # vLLM's --max-lora-rank (serving.json)
        quantization = FORMATS[kind].quantization
        from gemma_jax.export.gguf_export import write_gguf, write_modelfile

        name = f"{stem}.gguf"
        write_gguf(self.merged, work / name, quantization)
        write_modelfile(name, work)
        extra = {"gguf": name, "quantization": quantization}
        if quantization != "f16":
            extra["quality"] = self.quality[kind] = self._quality(work / name)
        return extra

    def _quality(self, gguf: Path) -> dict:
        from gemma_jax.export.quality import ANSWER_PROMPTS, greedy_answers, held_out_pairs, perplexity, quality_cost
        from gemma_jax.models.gguf.importer import load_gguf
        from gemma_jax.models.sources.keras_fixes import apply_keras_hub_fixes
        from gemma_jax.models.tokenizer import GemmaTextTokenizer

        pairs = held_out_pairs(self.cfg)
        prompts = [prompt for prompt, _ in pairs[:ANSWER_PROMPTS]]
        if self._reference is None:
            self.progress("measuring the unquantized model's validation perplexity and greedy answers")
            self._reference = (perplexity(self.merged, pairs), len(pairs), greedy_answers(self.merged, prompts))
        self.progress("measuring the quantized model's validation perplexity", detail=gguf.name)
        backbone, proto, _ = load_gguf(gguf)  # not load_model: it would cache a converted copy of every export
        apply_keras_hub_fixes(backbone)
        quantized = dataclasses.replace(self.model, backbone=backbone, tokenizer=GemmaTextTokenizer(proto))
        reference, examples, reference_answers = self._reference
        answers = greedy_answers(quantized, prompts)
        return quality_cost(perplexity(quantized, pairs), reference, examples, answers, reference_answers)
