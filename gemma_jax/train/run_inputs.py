"""What a run trains: its base model (and the vocabulary a tiny model trains once) and its batches.

Kept apart from the Trainer so `Trainer.prepare()` reads as the order of events, and so the rules
that make a resumed run see the same inputs live in one place: the vocabulary is trained once and
saved beside the run, and the data plan covers enough epochs for `train.max_steps`.
"""

from __future__ import annotations

import math

import jax

from gemma_jax.config.dtypes import auto_dtype_reason, resolve_dtype
from gemma_jax.config.job_config import JobConfig
from gemma_jax.data import Datasets, build_datasets, data_texts, prepare_data
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.parallel.distributed import is_primary, primary_bytes
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.base_model import load_base_model

VOCABULARY_TRAINED = ("tiny", "random")  # model sources whose vocabulary is trained on the run's data


def load_training_model(cfg: JobConfig, store: RunStore) -> LoadedModel:
    """The run's base model in its compute dtype; a tiny/random model reuses the vocabulary saved
    with the run, or trains one on the run's texts (process 0 alone, broadcast) and saves it."""
    tokenizer_file = store.tokenizer_path
    proto = tokenizer_file.read_bytes() if tokenizer_file.exists() else None
    texts = data_texts(cfg.data, pairs=cfg.method.kind == "dpo") if proto is None else None
    platform = jax.default_backend()
    dtype = resolve_dtype(cfg.model.dtype, platform)
    why = f" (model.dtype auto: {auto_dtype_reason(platform)})" if cfg.model.dtype == "auto" else ""
    store.log(f"loading model {cfg.model.source} in {dtype}{why}")
    trains_vocabulary = proto is None and cfg.model.source.split(":")[0] in VOCABULARY_TRAINED
    model = None
    if trains_vocabulary and jax.process_count() > 1:  # one vocabulary for all: the primary's
        model = load_base_model(cfg, dtype, None, texts) if is_primary() else None
        proto = primary_bytes(model.tokenizer.proto if model else None)
    model = model or load_base_model(cfg, dtype, proto, texts)
    if trains_vocabulary and is_primary():
        tokenizer_file.write_bytes(model.tokenizer.proto)  # a resumed run must reuse it
    return model


def build_run_data(cfg: JobConfig, model: LoadedModel, data_shards: int) -> tuple[Datasets, int]:
    """The run's datasets and its total steps: `train.max_steps`, else `train.epochs` of the data.

    Read, clean, split and augment happen once (augmentation may generate with the model); when
    max_steps needs more epochs than `train.epochs` plans, only the packing is planned again.
    """
    prepared = prepare_data(cfg.data, model, pairs=cfg.method.kind == "dpo")  # DPO reads preference pairs
    loss_groups = cfg.train.grad_accum_steps * data_shards

    def build(epochs: int) -> Datasets:
        return build_datasets(
            cfg.data,
            model.tokenizer,
            batch_size=cfg.train.batch_size,
            loss_groups=loss_groups,
            num_epochs=epochs,
            prepared=prepared,
        )

    epochs = max(1, math.ceil(cfg.train.epochs))
    data = build(epochs)
    if not cfg.train.max_steps:
        return data, max(1, round(cfg.train.epochs * data.train.steps_per_epoch))
    needed = math.ceil(cfg.train.max_steps / data.train.steps_per_epoch) + 1
    return (build(needed) if needed > epochs else data), cfg.train.max_steps
