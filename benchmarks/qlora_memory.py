"""Memory of QLoRA against LoRA: the frozen base in bytes, and the peak RSS of a training step.

Each method runs in its own process (so one's allocations cannot hide in another's peak):
it loads the model in `--dtype` (default bfloat16, the accelerator dtype), quantizes the
decoder-block projections for int8/int4 QLoRA, adds LoRA (rank 8, every projection) and
trains `--steps` steps on one CPU device on packed batches of the packaged example set.
Reported per method:

- frozen_bytes: the base weights the step reads, as they sit on the device (int4 packed
  two to a byte; scales and zero points included), split into the decoder-block
  projections, the token embedding (tied output head, never quantized) and the rest;
- xla_argument_bytes / xla_temp_bytes: XLA's own accounting of the compiled step (its
  inputs: weights, optimizer state, batch; and its peak scratch: activations, gradients);
- rss_setup_gb: resident memory once the training state is on the device (after
  `malloc_trim`, so the float kernels freed by quantization do not count);
- rss_compile_peak_gb / rss_step_peak_gb: the highest RSS sampled while the step
  compiled, and while the compiled step ran `--steps` times.

    python benchmarks/qlora_memory.py            # Gemma 3 270M shape (random weights)
    python benchmarks/qlora_memory.py --quick    # tiny:gemma3 (smoke test)

About 3.5 CPU-minutes for the 270M shape (three compiles of its step). The last stdout
line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from peak_rss import GB, RssSampler

METHODS = {"lora": None, "qlora_int8": "int8", "qlora_int4": "int4"}


def _release_freed_heap() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS may keep freed pages
        pass


def _category(path: str) -> str:
    if path.startswith("token_embedding/"):
        return "embedding"
    if path.rsplit("/", 1)[-1] in ("kernel", "kernel_scale", "kernel_zero", "g_idx"):
        return "projections"
    return "other"


def measure(method: str, args: argparse.Namespace) -> dict:
    """One method's figures, in this process."""
    import jax
    import numpy as np
    import psutil

    from gemma_jax.config import JobConfig, apply_overrides
    from gemma_jax.data import build_datasets, data_texts
    from gemma_jax.models.loading import load_model
    from gemma_jax.train.setup import build_training

    quantization = METHODS[method]
    overrides = [
        f"model.source={args.model}",
        f"model.dtype={args.dtype}",
        f"method.kind={'qlora' if quantization else 'lora'}",
        "method.lora_rank=8",
        "method.lora_targets=[query,key,value,attention_output,ffw_gating,ffw_gating_2,ffw_linear]",
        f"data.sequence_length={args.sequence_length}",
        f"train.batch_size={args.batch_size}",
        "mesh.fsdp=1",
    ]
    if quantization:
        overrides.append(f"method.quantization={quantization}")
    cfg = apply_overrides(JobConfig(), overrides)
    model = load_model(cfg.model.source, dtype=cfg.model.dtype, seed=0, vocab_texts=data_texts(cfg.data))
    data = build_datasets(cfg.data, model.tokenizer, batch_size=cfg.train.batch_size, loss_groups=1)
    batches = [next(data.train) for _ in range(args.steps)]
    setup = build_training(cfg, model, total_steps=args.steps, devices=jax.devices()[:1])
    state = setup.initial_state()
    jax.block_until_ready(state.frozen)

    frozen: dict[str, int] = {"projections": 0, "embedding": 0, "other": 0}
    for variable, array in zip(setup.decoder.non_trainable_variables, state.frozen):
        frozen[_category(variable.path)] += int(array.nbytes)
    _release_freed_heap()
    rss_setup = psutil.Process().memory_info().rss

    device_batches = [setup.device_batch(b) for b in batches]
    started = time.perf_counter()
    with RssSampler() as compile_peak:  # ahead-of-time, so XLA's own figures come with the executable
        compiled = setup.steps.train.lower(state.trainable, state.frozen, state.opt_state, device_batches[0]).compile()
    compile_s = time.perf_counter() - started
    stats = compiled.memory_analysis()
    _release_freed_heap()
    losses, steps_started = [], time.perf_counter()
    with RssSampler() as step_peak:
        for batch in device_batches:
            state.trainable, state.opt_state, metrics = compiled(state.trainable, state.frozen, state.opt_state, batch)
            losses.append(float(metrics["loss"]))
    return {
        "method": method,
        "dtype": args.dtype,
        "frozen_bytes": {**frozen, "total": sum(frozen.values())},
        "trainable_bytes": int(sum(np.asarray(x).nbytes for x in state.trainable)),
        "xla_argument_bytes": int(stats.argument_size_in_bytes) if stats else None,
        "xla_temp_bytes": int(stats.temp_size_in_bytes) if stats else None,
        "rss_setup_gb": round(rss_setup / GB, 3),
        "rss_compile_peak_gb": round(compile_peak.peak_bytes / GB, 3),
        "rss_step_peak_gb": round(step_peak.peak_bytes / GB, 3),
        "compile_seconds": round(compile_s, 1),
        "step_seconds": round((time.perf_counter() - steps_started) / len(batches), 2),
        "losses": [round(x, 4) for x in losses],
    }


def _single_device_env() -> dict[str, str]:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join(flags)
    env.setdefault("KERAS_BACKEND", "jax")
    return env


def _run_worker(method: str, argv: Sequence[str]) -> dict:
    command = [sys.executable, os.path.abspath(__file__), *argv, "--worker", method]
    proc = subprocess.run(command, capture_output=True, text=True, env=_single_device_env(), check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{method} worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def summarize(results: dict[str, dict], model: str) -> dict:
    lora = results["lora"]
    summary: dict = {"model": model, "dtype": lora["dtype"]}
    for method, result in results.items():
        summary[f"{method}_frozen_bytes"] = result["frozen_bytes"]["total"]
        summary[f"{method}_projection_bytes"] = result["frozen_bytes"]["projections"]
        summary[f"{method}_xla_argument_bytes"] = result["xla_argument_bytes"]
        summary[f"{method}_xla_temp_bytes"] = result["xla_temp_bytes"]
        summary[f"{method}_rss_setup_gb"] = result["rss_setup_gb"]
        summary[f"{method}_rss_compile_peak_gb"] = result["rss_compile_peak_gb"]
        summary[f"{method}_rss_step_peak_gb"] = result["rss_step_peak_gb"]
    summary["embedding_bytes"] = lora["frozen_bytes"]["embedding"]
    summary["trainable_bytes"] = lora["trainable_bytes"]
    for method in ("qlora_int8", "qlora_int4"):
        result = results[method]
        summary[f"{method}_projection_ratio"] = round(
            result["frozen_bytes"]["projections"] / lora["frozen_bytes"]["projections"], 3
        )
        summary[f"{method}_frozen_saving_bytes"] = lora["frozen_bytes"]["total"] - result["frozen_bytes"]["total"]
        summary[f"{method}_xla_argument_saving_bytes"] = lora["xla_argument_bytes"] - result["xla_argument_bytes"]
        summary[f"{method}_xla_temp_extra_bytes"] = result["xla_temp_bytes"] - lora["xla_temp_bytes"]
        summary[f"{method}_rss_step_peak_saving_gb"] = round(lora["rss_step_peak_gb"] - result["rss_step_peak_gb"], 3)
    summary["first_step_loss"] = {method: result["losses"][0] for method, result in results.items()}
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny:gemma3 instead of the 270M shape")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    parser.add_argument("--steps", type=int, default=2, help="steps per method after compiling (default 2)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--worker", choices=tuple(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.model = "tiny:gemma3" if args.quick else "random:gemma3_270m"
    return args


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args)), flush=True)
        return
    results = {}
    for method in METHODS:
        results[method] = _run_worker(method, argv)
        print(f"{method}: {json.dumps(results[method])}", file=sys.stderr, flush=True)
    print(json.dumps(summarize(results, args.model)), flush=True)


if __name__ == "__main__":
    main()
