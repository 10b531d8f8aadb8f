"""The model card part of an export's README.md: Hugging Face YAML front matter and the run's facts.

The front matter is what the Hub reads (`base_model`, `library_name`, `license`, `tags`, `datasets`);
the sections say what a reader needs to trust or reproduce the model: the data, the method and its
hyperparameters, the latest evaluation, the hardware and time it took, the library versions, and
Gemma's terms of use. Every figure comes from the run directory (status.json, metrics.jsonl, eval/).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import yaml

from gemma_jax.config.job_config import JobConfig
from gemma_jax.data.stats_text import describe_data
from gemma_jax.evaluate.compare import comparison_rows, metric_columns
from gemma_jax.export.formats import FORMATS
from gemma_jax.models.registry import find_variant
from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.run_time import parse_time, running_seconds
from gemma_jax.runs.schema import STATUS_FILE, Status

GEMMA_TERMS = (
    "This model is a derivative of Gemma. Gemma is provided under and subject to the Gemma Terms of Use found "
    "at https://ai.google.dev/gemma/terms, and its use is restricted by the Gemma Prohibited Use Policy "
    "(https://ai.google.dev/gemma/prohibited_use_policy). Whoever distributes this model must pass these terms on."
)
LIBRARIES = ("gemma-jax", "jax", "keras", "keras-hub", "optax", "orbax-checkpoint", "transformers", "peft", "gguf")
_LIBRARY_NAME = {"hf": "transformers", "peft": "peft", "keras": "keras-hub", "adapter": "keras-hub"}


def base_model_id(source: str) -> str:
    """The Hugging Face id of a known base (the Hub links the card to it), else the source as given."""
    variant = find_variant(source)
    if variant is not None and variant.hf_handle:
        return variant.hf_handle
    return source.removeprefix("hf://")


def front_matter(kind: str, cfg: JobConfig, lineage: dict) -> str:
    export_format = FORMATS[kind]
    tags = ["gemma", "gemma-jax", cfg.method.kind, "text-generation"]
    if export_format.quantization:
        tags += ["gguf", export_format.quantization]
    if kind == "peft":
        tags += ["lora", "base_model:adapter:" + base_model_id(cfg.model.source)]
    fields = {
        "base_model": base_model_id(cfg.model.source),
        "license": "gemma",
        "tags": tags,
        "datasets": [lineage["dataset_hash"]],
        "pipeline_tag": "text-generation",
    }
    if kind in _LIBRARY_NAME:
        fields["library_name"] = _LIBRARY_NAME[kind]
    return "---\n" + yaml.safe_dump(fields, sort_keys=False, allow_unicode=True) + "---"


def _hyperparameters(cfg: JobConfig) -> str:
    method, optimizer, train, data = cfg.method, cfg.optimizer, cfg.train, cfg.data
    rows = [("method", method.kind)]
    if method.kind != "full":
        rows += [
            ("LoRA rank / alpha", f"{method.lora_rank} / {method.lora_alpha}"),
            ("LoRA targets", ", ".join(method.lora_targets)),
        ]
        if method.base_quantization:
            rows.append(("base quantization (QLoRA)", method.base_quantization))
        if method.lora_dropout:
            rows.append(("LoRA dropout", f"{method.lora_dropout:g}"))
    rows += [
        ("optimizer", f"{optimizer.name}, peak learning rate {optimizer.learning_rate:g}"),
        ("schedule", f"{cfg.schedule.name}, {cfg.schedule.warmup_steps} warm-up steps"),
        ("batch size", f"{train.batch_size} rows of {data.sequence_length} tokens"),
        ("steps", str(train.max_steps) if train.max_steps else f"{train.epochs:g} epochs"),
        ("loss on", data.loss_on),
        ("seed", str(train.seed)),
    ]
    return "| setting | value |\n|---|---|\n" + "\n".join(f"| {name} | `{value}` |" for name, value in rows)


def _metrics(run_dir: Path, step: int) -> str:
    try:
        rows = comparison_rows([str(run_dir)])
    except (OSError, ValueError, KeyError):
        rows = []
    if not rows:
        return "Not evaluated yet: `gemma-jax evaluate RUN_DIR` writes the numbers a later export's card shows."
    row = next((r for r in rows if r["step"] == step), rows[0])
    lines = [
        (
            f"From `gemma-jax evaluate` at step {row['step']} on the {row['split']} split ({row['examples']} examples), "
            "the fine-tuned model against its base:"
        ),
        "",
        "| metric | fine-tuned | base | difference |",
        "|---|---|---|---|",
    ]
    for name in metric_columns([row]):
        tuned, base, delta = row["tuned"].get(name), row["base"].get(name), row["delta"].get(name)
        cells = ["" if v is None else f"{v:.4g}" for v in (tuned, base)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {'' if delta is None else f'{delta:+.4g}'} |")
    return "\n".join(lines)


def _duration(status: dict) -> str | None:
    """Time spent training (pauses and the time between a stop and its resume left out)."""
    updated = parse_time(status.get(Status.UPDATED))
    seconds = running_seconds(status, updated) if updated is not None else None
    if seconds is None:
        return None
    return f"{seconds / 60:.1f} minutes" if seconds >= 60 else f"{seconds:.0f} seconds"


def _training(run_dir: Path) -> str:
    try:
        status = json.loads(RunStore(run_dir).status_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = {}
    lines = []
    if isinstance(status.get(Status.DATA), dict):
        lines.append(f"- Data: {describe_data(status[Status.DATA])}.")
    hardware = status.get(Status.HARDWARE)
    if isinstance(hardware, dict):
        lines.append(
            f"- Hardware: {hardware.get('devices')} × {hardware.get('device_kind')} ({hardware.get('platform')}), "
            f"{hardware.get('processes')} process(es)."
        )
    duration = _duration(status)
    if duration:
        lines.append(f"- Training time: {duration} from start to the last update, {status.get(Status.STEP)} steps.")
    return "\n".join(lines) or f"- The run's {STATUS_FILE} could not be read."


def _versions() -> str:
    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def card_sections(cfg: JobConfig, run_dir: Path, step: int) -> list[str]:
    """The card's sections after the format's own (files, loading, chat template)."""
    return [
        "## Training",
        _training(run_dir),
        "## Method and hyperparameters",
        _hyperparameters(cfg),
        "## Evaluation",
        _metrics(run_dir, step),
        "## Software",
        f"Trained and exported with {_versions()}.",
        "## Terms of use",
        GEMMA_TERMS,
    ]
