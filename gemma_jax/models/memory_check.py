"""Does a job fit in memory? The memory estimate applied to a JobConfig, with what to change if not.

Used by the config validator (so it must stay free of JAX/Keras imports) and by
`gemma-jax train` before a run starts; `available_memory` is the one function
here that asks the hardware, and it imports JAX only for accelerators.
"""

from __future__ import annotations

from collections import ChainMap

from gemma_jax.models.memory_estimate import GB, METHODS, MemoryEstimate, estimate_memory
from gemma_jax.models.registry import shape_for_source


def compute_dtype(dtype: str, platform: str) -> str:
    """model.dtype "auto" as the trainer resolves it: bfloat16 on TPU/GPU, float32 on CPU."""
    if dtype != "auto":
        return dtype
    return "float32" if platform == "cpu" else "bfloat16"


def estimate_for_config(cfg, *, platform: str = "cpu", devices: int = 1, **changes) -> MemoryEstimate | None:
    """The estimate for `cfg` (one microbatch of rows at a time), or None when the model's shape
    cannot be known before loading it. `changes` override method, remat or rows (per microbatch)."""
    shape = shape_for_source(cfg.model.source) if isinstance(cfg.model.source, str) else None
    method = changes.get("method", cfg.method.kind)
    # DPO trains LoRA; its reference pass is forward-only and keeps nothing for the backward pass.
    method = "lora" if method == "dpo" else method
    if shape is None or method not in METHODS:
        return None
    rows = changes.get("rows", cfg.train.batch_size // max(1, cfg.train.grad_accum_steps))
    quantization = getattr(cfg.method, "quantization", None) or "int8"
    # On CPU the mesh's devices share the host's memory: count the whole job.
    per_device = platform != "cpu"
    return estimate_memory(
        shape,
        method,
        batch_size=max(1, rows // (devices if per_device else 1)),
        sequence_length=cfg.data.sequence_length,
        dtype=compute_dtype(cfg.model.dtype, platform),
        lora_rank=cfg.method.lora_rank,
        lora_targets=cfg.method.lora_targets,
        quantization=quantization,
        optimizer=cfg.optimizer.name,
        remat=changes.get("remat", cfg.model.remat),
        platform=platform,
        devices=devices if per_device else 1,
    )


def memory_problems(cfg, available: int, *, platform: str = "cpu", devices: int = 1) -> list[str]:
    """A problem when the job's estimated peak exceeds `available` bytes (per device on accelerators),
    naming the changes whose estimates do fit."""
    try:
        estimate = estimate_for_config(cfg, platform=platform, devices=devices)
    except (TypeError, ValueError, KeyError, AttributeError):
        return []  # malformed values are reported by the field rules
    if estimate is None or estimate.total <= available:
        return []
    where = "per device" if platform != "cpu" else "of memory"
    fixes = []
    for label, changes in _alternatives(cfg):
        other = estimate_for_config(cfg, platform=platform, devices=devices, **changes)
        if other is not None and other.total <= available:
            fixes.append(f"{label} (~{other.total / GB:.1f} GB)")
    advice = "; ".join(fixes) if fixes else "use a smaller model, or a machine with more memory"
    message = (
        f"model {cfg.model.source} with method.kind={cfg.method.kind}, {estimate.batch_size} rows x "
        f"{estimate.sequence_length} tokens per step in {estimate.dtype} needs about {estimate.total / GB:.1f} GB "
        f"{where} (weights {estimate.weights / GB:.1f}, optimizer state {estimate.trainable_state / GB:.1f}, "
        f"activations {estimate.activations / GB:.1f}, runtime {estimate.runtime / GB:.1f}), but "
        f"{available / GB:.1f} GB is available. To fit: {advice}"
    )
    return [message]


def _alternatives(cfg) -> list[tuple[str, dict]]:
    """Changes that lower the peak, most specific first, then all of them together."""
    options = []
    batch, accumulate = cfg.train.batch_size, cfg.train.grad_accum_steps
    if batch // accumulate > 1:  # same effective batch, one row per microbatch
        options.append((f"train.grad_accum_steps={batch} (same batch, one row at a time)", {"rows": 1}))
    if not cfg.model.remat:
        options.append(("model.remat=true", {"remat": True}))
    if cfg.method.kind == "full":
        options.append(("method.kind=lora", {"method": "lora"}))
    if cfg.method.kind != "qlora":
        options.append(("method.kind=qlora", {"method": "qlora"}))
    combined = options[:-1] if cfg.method.kind == "full" else options  # lora and qlora exclude each other
    if len(combined) > 1:
        labels, changes = zip(*combined)
        options.append((" and ".join(label.split(" (")[0] for label in labels), dict(ChainMap(*changes))))
    return options


def available_memory(platform: str | None = None) -> tuple[int, str, int]:
    """(bytes available per device, platform, device count): host memory on CPU, else the first
    accelerator's free memory as JAX reports it (host memory when it reports none)."""
    import psutil

    if platform == "cpu":
        return int(psutil.virtual_memory().available), "cpu", 1
    import jax

    platform = jax.default_backend()
    devices = jax.local_devices()
    if platform == "cpu":
        return int(psutil.virtual_memory().available), "cpu", len(devices)
    stats = devices[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0)), platform, len(devices)
    return int(psutil.virtual_memory().available), platform, len(devices)
