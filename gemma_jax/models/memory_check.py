"""Does a job fit in memory? The memory estimate applied to a JobConfig, with what to change if not.

Used by the config validator (so it must stay free of JAX/Keras imports), by
`gemma-jax train` before a run starts and by `gemma-jax models --topology`;
`available_memory` is the one function here that asks the hardware, and it
imports JAX only for accelerators.
"""

from __future__ import annotations

from collections import ChainMap

from gemma_jax.config.dtypes import resolve_dtype
from gemma_jax.models.memory_estimate import GB, METHODS, MemoryEstimate, estimate_memory, factors_measured
from gemma_jax.models.registry import shape_for_source
from gemma_jax.models.variant_shape import GemmaShape
from gemma_jax.parallel.topologies import Topology


def estimate_for_config(cfg, *, platform: str = "cpu", devices: int = 1, **changes) -> MemoryEstimate | None:
    """The estimate for `cfg` (one microbatch of rows at a time), or None when the model's shape
    cannot be known before loading it. `changes` override method, remat or rows (per microbatch, all
    devices together). On TPU/GPU it is per device on the config's mesh over `devices`."""
    shape = shape_for_source(cfg.model.source) if isinstance(cfg.model.source, str) else None
    method = changes.get("method", cfg.method.kind)
    # DPO trains LoRA; its reference pass is forward-only and keeps nothing for the backward pass.
    method = "lora" if method == "dpo" else method
    if shape is None or method not in METHODS:
        return None
    rows = changes.get("rows", cfg.train.batch_size // max(1, cfg.train.grad_accum_steps))
    quantization = getattr(cfg.method, "quantization", None) or "int8"
    # On CPU the mesh's devices share the host's memory: count the whole job.
    mesh = _config_mesh(cfg, devices) if platform != "cpu" else (1, 1, 1)
    return estimate_memory(
        shape,
        method,
        batch_size=max(1, rows),
        sequence_length=cfg.data.sequence_length,
        dtype=resolve_dtype(cfg.model.dtype, platform),
        lora_rank=cfg.method.lora_rank,
        lora_targets=cfg.method.lora_targets,
        quantization=quantization,
        optimizer=cfg.optimizer.name,
        remat=bool(changes.get("remat", cfg.model.remat)),
        platform=platform,
        mesh=mesh,
    )


def _config_mesh(cfg, devices: int) -> tuple[int, int, int]:
    """cfg.mesh over `devices`, or every device on fsdp when the mesh does not fit them (validate says why)."""
    from gemma_jax.config.mesh import resolve_mesh_shape  # here: gemma_jax.config imports this module

    try:
        return resolve_mesh_shape(cfg.mesh, max(1, devices))
    except ValueError:  # ConfigError included
        return 1, max(1, devices), 1


def estimate_for_topology(shape: GemmaShape, method: str, topology: Topology, **options) -> MemoryEstimate:
    """The estimate of one training step per device of `topology` (on CPU: the whole job, which shares the
    host's memory). `options` are estimate_memory's: batch_size (all devices together), dtype, ..."""
    mesh = (1, 1, 1) if topology.shared_memory else topology.mesh
    return estimate_memory(shape, method, platform=topology.platform, mesh=mesh, **options)


def fits(estimate: MemoryEstimate, available: int) -> bool:
    """Whether the job may run in `available` bytes: its whole estimate where the backend's factors were
    measured; elsewhere only the part the shapes fix exactly (weights and optimizer state) must fit, since
    the activation factors there are XLA:CPU's (the estimate's notes say so)."""
    counted = estimate.total if factors_measured(estimate.platform) else estimate.exact
    return counted <= available


def memory_problems(cfg, available: int, *, platform: str = "cpu", devices: int = 1) -> list[str]:
    """A problem when the job's estimated peak exceeds `available` bytes (per device on accelerators),
    naming the changes whose estimates do fit. On a backend whose activation factors were not measured
    (TPU, GPU) the job is refused only when its weights and optimizer state alone exceed `available`."""
    try:
        estimate = estimate_for_config(cfg, platform=platform, devices=devices)
        if estimate is not None and cfg.model.remat is None and not fits(estimate, available):
            estimate = estimate_for_config(cfg, platform=platform, devices=devices, remat=True)  # what auto does
    except (TypeError, ValueError, KeyError, AttributeError):
        return []  # malformed values are reported by the field rules
    if estimate is None or fits(estimate, available):
        return []
    where = "per device" if platform != "cpu" else "of memory"
    fixes = []
    for label, changes in _alternatives(cfg):
        other = estimate_for_config(cfg, platform=platform, devices=devices, **changes)
        if other is not None and other.total <= available:
            fixes.append(f"{label} (~{other.total / GB:.1f} GB)")
    advice = "; ".join(fixes) if fixes else "use a smaller model, or a machine with more memory"
    gathered = f", gathered weights {estimate.gathered / GB:.1f}" if estimate.gathered else ""
    notes = "".join(f" ({note})" for note in estimate.notes[:1])
    message = (
        f"model {cfg.model.source} with method.kind={cfg.method.kind}, {estimate.batch_size} rows x "
        f"{estimate.sequence_length} tokens per step in {estimate.dtype} needs about {estimate.total / GB:.1f} GB "
        f"{where} (weights {estimate.weights / GB:.1f}, optimizer state {estimate.trainable_state / GB:.1f}, "
        f"activations {estimate.activations / GB:.1f}{gathered}, runtime {estimate.runtime / GB:.1f}){notes}, but "
        f"{available / GB:.1f} GB is available. To fit: {advice}"
    )
    return [message]


MAX_BATCH = 256  # the largest batch size largest_batch looks at


def largest_batch(cfg, available: int, *, platform: str = "cpu", devices: int = 1) -> int | None:
    """The largest power-of-two multiple of grad_accum_steps whose microbatches fit in `available`
    bytes (per device on accelerators) and split over `devices`, up to MAX_BATCH; None when the
    model's shape is unknown before loading, or not even one row per microbatch fits."""
    accumulate = max(1, cfg.train.grad_accum_steps)
    best, rows = None, 1
    while rows * accumulate <= MAX_BATCH:
        estimate = estimate_for_config(cfg, platform=platform, devices=devices, rows=rows)
        if estimate is None or estimate.total > available:
            break
        if (rows * accumulate) % devices == 0:
            best = rows * accumulate
        rows *= 2
    return best


def bigger_batch_note(cfg, available: int, *, platform: str, devices: int = 1) -> str | None:
    """On an accelerator with room for at least twice the configured batch, one line saying so.

    The run keeps its configured batch (a different one changes what it learns per step and how long
    it runs); the note only tells the user what would keep the chip busier. None on CPU, where a bigger
    batch makes fewer, longer steps, not faster ones."""
    if platform == "cpu":
        return None
    largest = largest_batch(cfg, available, platform=platform, devices=devices)
    batch = cfg.train.batch_size
    if largest is None or largest < 2 * batch:
        return None
    return (
        f"this {platform.upper()} has room for batch {largest} (train.batch_size={largest}), against the "
        f"configured {batch}: a bigger batch keeps the {platform.upper()} busier, so each example costs less time"
        f"{'' if factors_measured(platform) else ' (activations estimated with XLA:CPU factors)'}; the run "
        f"keeps batch {batch}"
    )


def choose_remat(cfg, available: int, *, platform: str = "cpu", devices: int = 1) -> tuple[bool, str]:
    """Whether a step recomputes its activations (model.remat), and why, in words for the run's log.

    Auto (None): on only when the estimated peak of a step without it exceeds `available` bytes (per
    device on accelerators). This counts the whole estimate, activations included, on every platform:
    on TPU/GPU those factors are XLA:CPU's, so the choice there is a best guess, said in the log."""
    if cfg.model.remat is not None:
        return bool(cfg.model.remat), "set in the config"
    estimate = estimate_for_config(cfg, platform=platform, devices=devices, remat=False)
    if estimate is None:
        return False, "auto: off (the model's shape is known only once loaded)"
    need, have = f"{estimate.total / GB:.1f} GB", f"{available / GB:.1f} GB"
    guess = "" if factors_measured(platform) else "; activations estimated with XLA:CPU's factors"
    if estimate.total <= available:
        return False, f"auto: off (a step needs about {need} without it; {have} available{guess})"
    return True, f"auto: on (a step would need about {need} without it; {have} available{guess})"


def _alternatives(cfg) -> list[tuple[str, dict]]:
    """Changes that lower the peak, most specific first, then all of them together."""
    options = []
    batch, accumulate = cfg.train.batch_size, cfg.train.grad_accum_steps
    if batch // accumulate > 1:  # same effective batch, one row per microbatch
        options.append((f"train.grad_accum_steps={batch} (same batch, one row at a time)", {"rows": 1}))
    if cfg.model.remat is False:  # None (auto) already counts on it
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
