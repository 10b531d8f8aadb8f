"""Rebuild the model a run trained, with its weights from a checkpoint."""

from __future__ import annotations

from dataclasses import replace

import jax

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.config.dtypes import resolve_dtype
from gemma_jax.config.job_config import JobConfig, MeshConfig, MethodConfig
from gemma_jax.data import data_texts
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import ModelLoadError
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.base_model import load_base_model
from gemma_jax.train.setup import TrainingSetup, build_training
from gemma_jax.train.state_restore import restore_state
from gemma_jax.train.trainer import checkpoint_directory


def open_run(run_dir: str) -> tuple[RunStore, JobConfig]:
    """The run's store and its config, for this machine's devices (one mesh over them all)."""
    store = RunStore.open(run_dir)
    return store, replace(store.config(), mesh=MeshConfig(data=1, fsdp=-1, model=1))


def build_run_training(store: RunStore, cfg: JobConfig) -> TrainingSetup:
    """The run's model built as its training process built it (tokenizer, seed, LoRA/QLoRA), base weights."""
    tokenizer_file = store.tokenizer_path
    proto = tokenizer_file.read_bytes() if tokenizer_file.exists() else None
    model = load_base_model(
        cfg, resolve_dtype(cfg.model.dtype, jax.default_backend()), proto, None if proto else data_texts(cfg.data)
    )
    return build_training(cfg, model, total_steps=1)


def load_run_model(run_dir: str, step: int | None = None) -> tuple[LoadedModel, int]:
    """The fine-tuned model of `run_dir` at `step` (default: latest checkpoint), on this machine's devices."""
    store, cfg = open_run(run_dir)
    setup = build_run_training(store, cfg)
    checkpoints = CheckpointStore(checkpoint_directory(cfg, store), cfg.checkpoint)
    try:
        step = checkpoints.latest_step() if step is None else step
        if step is None:
            raise ModelLoadError(f"run {run_dir} has no checkpoint yet; wait for its first save or use the base model")
        if step not in checkpoints.all_steps():
            raise ModelLoadError(f"run {run_dir} has no checkpoint at step {step}; it has {checkpoints.all_steps()}")
        trainable, _, frozen, _, meta = restore_state(checkpoints, step, setup.initial_state())
    finally:
        checkpoints.close()
    _check_method(meta, cfg.method, run_dir, step)
    setup.write_back(trainable)
    if frozen is not None:
        for variable, value in zip(setup.decoder.non_trainable_variables, frozen):
            variable.assign(value)
    return setup.model, step


def _check_method(meta: dict, method: MethodConfig, run_dir: str, step: int) -> None:
    """The model was rebuilt from config.yaml (LoRA, or QLoRA's quantized base); the checkpoint must agree.

    LoRA factors have the same shapes over a float and a quantized base, so a mismatch would load silently.
    """
    saved_kind = meta.get("method", method.kind)
    saved_quantization = (meta.get("lora") or {}).get("quantization", method.base_quantization)
    if (saved_kind, saved_quantization) != (method.kind, method.base_quantization):
        saved = saved_kind + (f" ({saved_quantization} base)" if saved_quantization else "")
        configured = method.kind + (f" ({method.base_quantization} base)" if method.base_quantization else "")
        raise ModelLoadError(
            f"run {run_dir}: checkpoint step {step} was trained with method {saved}, but its config.yaml now says "
            f"{configured}; restore config.yaml's method section as it was when the run trained"
        )
