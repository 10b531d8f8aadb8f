"""What `gemma-jax models` prints: every registry variant with its size and memory estimates, on this
machine (`models_rows`) or per device of a named topology (`topology_rows`, `--topology v5e-8`)."""

from __future__ import annotations

from gemma_jax.models.memory_check import estimate_for_topology
from gemma_jax.models.memory_estimate import GB, METHODS, GiB, estimate_memory
from gemma_jax.models.registry import GemmaVariant, list_variants
from gemma_jax.parallel.topologies import TOPOLOGIES, Topology

METHOD_LABELS = {"full": "full", "lora": "LoRA", "qlora": "QLoRA"}


def models_rows(
    *, batch_size: int, sequence_length: int, dtype: str, lora_rank: int = 8, quantization: str = "int4"
) -> list[dict]:
    """One dict per variant (built-in default first); memory estimates in bytes, None where not trainable."""
    rows = []
    for variant in list_variants():
        estimates = {method: None for method in METHODS}
        if variant.shape is not None:
            for method in METHODS:
                estimate = estimate_memory(
                    variant.shape,
                    method,
                    batch_size=batch_size,
                    sequence_length=sequence_length,
                    dtype=dtype,
                    lora_rank=lora_rank,
                    quantization=quantization,
                )
                estimates[method] = estimate.total
        rows.append(_row(variant, estimates))
    return rows


def _row(variant: GemmaVariant, estimates: dict) -> dict:
    shape = variant.shape
    return {
        "name": variant.name,
        "family": variant.family,
        "params": variant.params,
        "context_length": variant.context_length,
        "built_in": variant.built_in,
        "instruction_tuned": variant.instruction_tuned,
        "trainable": variant.trainable,
        "load_as": variant.load_as,
        "kaggle_handle": variant.kaggle_handle,
        "hf_handle": variant.hf_handle,
        "memory_bytes": estimates,
        "architecture": None
        if shape is None
        else {
            "backbone": shape.backbone,
            "vocabulary_size": shape.vocabulary_size,
            "num_layers": shape.num_layers,
            "hidden_dim": shape.hidden_dim,
            "num_query_heads": shape.num_query_heads,
            "num_key_value_heads": shape.num_key_value_heads,
            "head_dim": shape.head_dim,
            "ffn_dim": shape.ffn_dim,
            "tied_embeddings": shape.tied_embeddings,
            "vision_encoder": shape.vision_encoder,
        },
        "note": variant.note,
    }


def _count(params: int) -> str:
    return f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"


def _context(length: int | None) -> str:
    if length is None:
        return "?"
    return f"{length // 1024}K" if length >= 1024 else str(length)


def _gigabytes(value: int | None) -> str:
    return "-" if value is None else f"{value / GB:.1f}"


def format_models_table(rows: list[dict], batch_size: int, sequence_length: int, dtype: str, quantization: str) -> str:
    headers = ("", "name", "family", "params", "context", "full GB", "LoRA GB", "QLoRA GB", "load as")
    table = [headers]
    for row in rows:
        memory = row["memory_bytes"]
        table.append(
            (
                "*" if row["built_in"] else "",
                row["name"],
                row["family"] + (" (it)" if row["instruction_tuned"] else ""),
                _count(row["params"]),
                _context(row["context_length"]),
                _gigabytes(memory["full"]),
                _gigabytes(memory["lora"]),
                _gigabytes(memory["qlora"]),
                row["load_as"] if row["trainable"] else f"{row['load_as']} (not trainable yet)",
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    right = {3, 5, 6, 7}
    lines = [
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in table
    ]
    footer = (
        f"* built in (ships with gemma-jax, no download). Memory: estimated peak of one training step on one "
        f"device at batch {batch_size} x {sequence_length} tokens, {dtype} weights, AdamW, LoRA rank 8 on query "
        f"and value, QLoRA base {quantization}, CPU runtime included; re-estimate with --batch-size, "
        "--sequence-length, --dtype. (it) = instruction-tuned."
    )
    return "\n".join(line.rstrip() for line in lines) + "\n\n" + footer


def topology_rows(
    topology: Topology,
    *,
    batch_size: int,
    sequence_length: int,
    dtype: str,
    lora_rank: int = 8,
    quantization: str = "int4",
) -> list[dict]:
    """One dict per variant: per-device peak bytes of full / LoRA / QLoRA on `topology` (None where not
    trainable), each method's parts, and whether it fits in the memory a job may use on one device."""
    usable = topology.usable_bytes()
    rows = []
    for variant in list_variants():
        totals, parts, fit = {m: None for m in METHODS}, {m: None for m in METHODS}, {m: None for m in METHODS}
        for method in METHODS if variant.shape is not None else ():
            estimate = estimate_for_topology(
                variant.shape,
                method,
                topology,
                batch_size=batch_size,
                sequence_length=sequence_length,
                dtype=dtype,
                lora_rank=lora_rank,
                quantization=quantization,
            )
            totals[method], fit[method] = estimate.total, estimate.total <= usable
            parts[method] = {
                key: getattr(estimate, key)
                for key in ("weights", "trainable_state", "activations", "gathered", "runtime")
            }
        row = _row(variant, totals)
        del row["architecture"]
        rows.append({**row, "fits": fit, "memory_parts": parts})
    return rows


def topology_notes(topology: Topology) -> list[str]:
    """What the per-device figures on `topology` rest on, in the words the table prints."""
    shape = next(v.shape for v in list_variants() if v.shape is not None)
    notes = []
    for method in ("full", "qlora"):  # together they raise every note the estimate makes
        notes += [note for note in estimate_for_topology(shape, method, topology).notes if note not in notes]
    if topology.platform == "gpu":
        notes.append(
            f"GPU: compared with {topology.usable_bytes() / GiB:.1f} GiB, the share of the card JAX's allocator "
            "takes (XLA_PYTHON_CLIENT_MEM_FRACTION, 0.75 by default)"
        )
    if topology.shared_memory:
        notes.append("CPU: the whole job in the host's memory, which every device shares")
    return notes


def topology_header(
    topology: Topology, batch_size: int, sequence_length: int, dtype: str, quantization: str, lora_rank: int = 8
) -> str:
    data, fsdp, model = topology.mesh
    shards = topology.batch_shards if not topology.shared_memory else 1
    rows = -(-batch_size // shards)
    batch = f"batch {batch_size} rows x {sequence_length} tokens"
    if shards > 1:
        batch += f", split over data x fsdp = {shards}: {rows} row{'s' if rows != 1 else ''} per device"
        if batch_size % shards:
            batch += f" (the trainer needs a multiple of {shards}: this is batch {rows * shards})"
    peak = f" and {topology.peak_bf16_tflops:g} bf16 TFLOP/s" if topology.peak_bf16_tflops else ""
    return (
        f"Topology {topology.name}: {topology.devices} x {topology.chip} ({topology.device_kind}), "
        f"{topology.hosts} host{'s' if topology.hosts != 1 else ''}, {topology.memory_bytes / GiB:.1f} GiB memory{peak} "
        f"per device; mesh data={data} fsdp={fsdp} model={model}.\n"
        f"Peak memory of one training step per device, GiB: {batch}, {dtype}, AdamW, LoRA rank {lora_rank} on query "
        f"and value, QLoRA base {quantization}."
    )


def format_topology_table(rows: list[dict], header: str, notes: list[str]) -> str:
    headers = ("name", "family", "params", "full GiB", "LoRA GiB", "QLoRA GiB", "fits")
    table = [headers]
    for row in rows:
        memory, fit = row["memory_bytes"], row["fits"]
        fitting = [METHOD_LABELS[m] for m in METHODS if fit[m]]
        verdict = "-" if not row["trainable"] else ("all" if len(fitting) == 3 else ", ".join(fitting) or "none")
        cells = [("-" if memory[m] is None else f"{memory[m] / GiB:.1f}") for m in METHODS]
        family = row["family"] + (" (it)" if row["instruction_tuned"] else "")
        table.append((row["name"], family, _count(row["params"]), *cells, verdict))
    lines = _aligned(table, right={2, 3, 4, 5})
    footer = "\n".join(f"Note: {note}." for note in notes)
    return header + "\n\n" + "\n".join(lines) + "\n\n" + footer


def format_topologies(topologies=None) -> str:
    """The presets `--topology` takes."""
    headers = ("name", "chip", "device kind", "devices", "hosts", "GiB/device", "bf16 TFLOP/s", "mesh d x f x m")
    table = [headers]
    for t in (topologies or TOPOLOGIES).values():
        peak = "-" if t.peak_bf16_tflops is None else f"{t.peak_bf16_tflops:g}"
        mesh = " x ".join(str(axis) for axis in t.mesh)
        table.append(
            (t.name, t.chip, t.device_kind, str(t.devices), str(t.hosts), f"{t.memory_bytes / GiB:.1f}", peak, mesh)
        )
    footer = (
        "Devices as JAX counts them (one per chip: v4-8 and v5p-8 are named by TensorCores); hosts = JAX processes; "
        "cpu = this host's memory. Use: gemma-jax models --topology NAME [--mesh DATA,FSDP,MODEL], or auto."
    )
    return "\n".join(_aligned(table, right={3, 4, 5, 6})) + "\n\n" + footer


def _aligned(table: list[tuple], right: set[int]) -> list[str]:
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return [
        "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()
        for line in table
    ]
