"""What `gemma-jax models` prints: every registry variant with its size and memory estimates."""

from __future__ import annotations

from gemma_jax.models.memory_estimate import GB, METHODS, estimate_memory
from gemma_jax.models.registry import GemmaVariant, list_variants


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
