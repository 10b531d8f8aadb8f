"""Load what a `load` request names: a run's fine-tuned model, a run's base model, or any model source."""

from __future__ import annotations

import os

from gemma_jax.config import JobConfig
from gemma_jax.data import data_texts
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import load_model
from gemma_jax.runs.run_store import RunDirError, RunStore
from gemma_jax.runs.schema import CONFIG_FILE, STATUS_FILE
from gemma_jax.serve.protocol import BASE_PREFIX


def is_run_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, STATUS_FILE))


def load_base_model(run_dir: str) -> LoadedModel:
    """The model `run_dir` started from: its model.source in its dtype, with its seed and vocabulary.

    A tiny/random model is rebuilt from the run's seed and saved tokenizer, so it is
    the same network the run began training, not a fresh random one.
    """
    import jax

    from gemma_jax.config.dtypes import resolve_dtype

    store = RunStore.open(run_dir)
    cfg = store.config()
    tokenizer_file = store.path / "tokenizer.model"
    proto = tokenizer_file.read_bytes() if tokenizer_file.exists() else None
    return load_model(
        cfg.model.source,
        dtype=resolve_dtype(cfg.model.dtype, jax.default_backend()),
        seed=cfg.train.seed,
        tokenizer_proto=proto,
        vocab_texts=None if proto else data_texts(cfg.data),
    )


def load_source(source: str, step: int | None = None) -> tuple[LoadedModel, int | None]:
    """(model, checkpoint step or None) for `source`: RUN_DIR (at `step`, default latest), base:RUN_DIR, or a model source."""
    if source.startswith(BASE_PREFIX):
        run_dir = source[len(BASE_PREFIX) :]
        if not is_run_dir(run_dir):
            raise RunDirError(f"{run_dir} is not a run directory (no status.json); pick an existing run")
        return load_base_model(run_dir), None
    if is_run_dir(source):
        from gemma_jax.train.run_model import load_run_model

        return load_run_model(source, step)
    if step is not None:
        raise ValueError(f"a checkpoint step only applies to a run directory, and {source} is not one")
    exported = os.path.isfile(os.path.join(source, "export.json"))  # an export keeps its run's config.yaml
    if os.path.isdir(source) and os.path.isfile(os.path.join(source, CONFIG_FILE)) and not exported:
        raise RunDirError(f"{source} has a config.yaml but no status.json: it is not a complete run directory")
    texts = data_texts(JobConfig().data) if source.startswith(("tiny:", "random:")) else None
    return load_model(source, vocab_texts=texts), None
