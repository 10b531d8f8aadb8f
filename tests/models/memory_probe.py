"""Measure the peak resident memory of real training steps; prints one JSON object.

Run in a fresh process (one CPU device, as `gemma-jax train` has):
    python tests/models/memory_probe.py SOURCE DTYPE METHOD BATCH SEQUENCE [--remat]

The model is built or loaded first, then the process's high-water mark is reset
(/proc/self/clear_refs), so `peak_bytes` is the peak while the trainer sets up its
state, compiles and runs two steps, exactly as gemma_jax.train.setup builds them.
`random:<arch>` models start from zeros (as preset loading does) and are then
filled variable by variable from a tiled random block, which keeps the build from
needing several times the model's size the way eager random initializers do.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax
import ml_dtypes
import numpy as np

from gemma_jax.config import JobConfig, apply_overrides
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.registry import shape_for_source
from gemma_jax.train.setup import build_training


def high_water_bytes() -> int:
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read()).group(1)) * 1024


def resident_bytes() -> int:
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+) kB", status.read()).group(1)) * 1024


def reset_high_water() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def random_model(source: str, dtype: str) -> LoadedModel:
    """A full-size random-init backbone, built without the eager initializers' temporaries."""
    from gemma_jax.models.gguf import skip_random_init
    from gemma_jax.models.loading import build_backbone

    shape = shape_for_source(source)
    with skip_random_init():
        backbone, family = build_backbone(source.partition(":")[2], shape.vocabulary_size, dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    numpy_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.float32
    # One random block of a prime length, tiled: every weight looks random to the model and its
    # memory is the same, but filling 2.5B values costs a copy instead of 2.5B normal draws.
    pattern = (rng.standard_normal(1_000_003, dtype=np.float32) * 0.02).astype(numpy_dtype)
    for variable in backbone.weights:
        dims = tuple(variable.shape)
        values = np.zeros(dims, numpy_dtype) if "norm" in variable.path else np.resize(pattern, dims)
        variable.assign(values)  # Gemma norms scale by (1 + w): zeros keep activations sane
        del values
    return LoadedModel(backbone, None, source, family, shape.context_length)


def full_loss_batch(rows: int, length: int, groups: int, vocab: int) -> dict:
    """One example per row, loss on every position: the largest loss capacity a batch can need."""
    rng = np.random.RandomState(0)
    token_ids = rng.randint(6, vocab, size=(rows, length)).astype("int32")
    per_group = rows * length // groups
    capacity = 64 * -(-per_group // 64)
    loss_index = np.zeros((groups, capacity), "int32")
    loss_valid = np.zeros((groups, capacity), bool)
    loss_index[:, :per_group] = np.arange(per_group)
    loss_valid[:, :per_group] = True
    return {
        "token_ids": token_ids,
        "segment_ids": np.ones_like(token_ids),
        "positions": np.arange(length, dtype="int32")[None].repeat(rows, 0),
        "targets": np.roll(token_ids, -1, 1),
        "loss_index": loss_index,
        "loss_valid": loss_valid,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("dtype")
    parser.add_argument("method")
    parser.add_argument("batch", type=int)
    parser.add_argument("sequence", type=int)
    parser.add_argument("--remat", action="store_true")
    args = parser.parse_args()
    started = time.time()
    cfg = apply_overrides(
        JobConfig(),
        [
            f"model.source={args.source}",
            f"model.dtype={args.dtype}",
            f"method.kind={args.method}",
            f"train.batch_size={args.batch}",
            f"data.sequence_length={args.sequence}",
            f"model.remat={str(args.remat).lower()}",
        ],
    )
    if args.source.startswith("random:"):
        model = random_model(args.source, args.dtype)
        vocab = model.backbone.vocabulary_size
    else:
        from gemma_jax.models.loading import load_model

        model = load_model(args.source, dtype=args.dtype)
        vocab = model.tokenizer.vocabulary_size
    load_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    loaded = resident_bytes()
    reset_high_water()

    setup = build_training(cfg, model, total_steps=10)
    state = setup.initial_state()
    host = full_loss_batch(args.batch, args.sequence, setup.loss_groups, vocab)
    compiled = setup.steps.train.lower(
        state.trainable, state.frozen, state.opt_state, setup.device_batch(host)
    ).compile()
    analysis = compiled.memory_analysis()
    losses = []
    for _ in range(2):
        state.trainable, state.opt_state, metrics = compiled(
            state.trainable, state.frozen, state.opt_state, setup.device_batch(host)
        )
        losses.append(float(metrics["loss"]))
    report = {
        "peak_bytes": high_water_bytes(),
        "loaded_rss_bytes": loaded,
        "load_peak_bytes": load_peak,
        "xla_temp_bytes": analysis.temp_size_in_bytes,
        "xla_argument_bytes": analysis.argument_size_in_bytes,
        "losses": losses,
        "devices": jax.device_count(),
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
