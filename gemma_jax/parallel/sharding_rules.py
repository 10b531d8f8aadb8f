"""One table of sharding rules for Gemma weights (GemmaBackbone and Gemma3Backbone).

Each rule maps a variable-path pattern to the mesh axis of every dimension.
A dimension that the axis does not divide is replicated instead of failing
(Gemma 3 270M has one key/value head; Keras-Hub's layout map breaks on it).
LoRA factors follow their kernel: A keeps the kernel's leading axes, B its
last one, and the rank dimension is never split.

QLoRA's quantized kernels (models/quantization.py): int8 kernels keep the float
kernel's shape and rule; int4 kernels are stored flattened to [input rows,
packed output columns] and follow PACKED_RULES. int4 scales and zero points
([groups, columns]) split their columns like the packed kernel; int8 scales (one
per output channel, a few KB) and int4 group indices are replicated.

Every rule of both tables applies to every Gemma architecture (1, 2 and 3 all
have the seven projections and the token embedding; PACKED_RULES name the same
kernel paths). A rule that matches no variable of the model being sharded is an
error (`check_rules_match`), not a silent replication of weights it was meant to
split: it means Keras-Hub renamed a layer, or the model is not a Gemma.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from jax.sharding import Mesh, NamedSharding, PartitionSpec

# (pattern on the variable path, axis per dimension of the kernel)
RULES: tuple[tuple[str, tuple[str | None, ...]], ...] = (
    (r"token_embedding/embeddings$", ("model", "fsdp")),
    (r"attention/query/kernel$", ("model", "fsdp", None)),  # [heads, hidden, head_dim]
    (r"attention/key/kernel$", ("model", "fsdp", None)),
    (r"attention/value/kernel$", ("model", "fsdp", None)),
    (r"attention/attention_output/kernel$", ("model", None, "fsdp")),  # [heads, head_dim, hidden]
    (r"ffw_gating(_2)?/kernel$", ("fsdp", "model")),  # [hidden, ffw]
    (r"ffw_linear/kernel$", ("model", "fsdp")),  # [ffw, hidden]
)


# int4 kernels as Keras stores them: [reduced (input) dims, packed non-reduced (output) dims].
PACKED_RULES: tuple[tuple[str, tuple[str | None, str | None]], ...] = (
    (r"attention/(query|key|value)/kernel$", ("fsdp", "model")),  # [hidden, heads*head_dim/2]
    (r"attention/attention_output/kernel$", ("model", "fsdp")),  # [heads*head_dim, hidden/2]
    (r"ffw_gating(_2)?/kernel$", ("fsdp", "model")),  # [hidden, ffw/2]
    (r"ffw_linear/kernel$", ("model", "fsdp")),  # [ffw, hidden/2]
)


def _rule(rules, path: str):
    return next((axes for pattern, axes in rules if re.search(pattern, path)), None)


def logical_axes(path: str, ndim: int) -> tuple[str | None, ...]:
    """Axis names for a variable, LoRA factors and quantization scales derived from their kernel's rule."""
    replicated = (None,) * ndim
    quantizer = re.search(r"/kernel_(scale|zero)$", path)
    if quantizer:  # int4: [groups, columns] or [columns]; int8 (ndim > 2): per output channel, replicated
        packed = _rule(PACKED_RULES, path[: quantizer.start()] + "/kernel")
        return replicated[:-1] + (packed[-1],) if packed and ndim <= 2 else replicated
    lora = re.search(r"/lora_kernel_([ab])$", path)
    kernel_path = path[: lora.start()] + "/kernel" if lora else path
    axes = _rule(RULES, kernel_path)
    if axes is None:
        return replicated
    if lora:
        # A: kernel.shape[:-1] + (rank,); B: (rank, kernel.shape[-1])
        return axes[:-1] + (None,) if lora.group(1) == "a" else (None, axes[-1])
    if len(axes) != ndim:  # an int4 kernel of a 3-d projection, flattened and packed
        return _rule(PACKED_RULES, path) or replicated
    return axes


def partition_spec(path: str, shape: tuple[int, ...], mesh: Mesh) -> PartitionSpec:
    """The spec for one variable on `mesh`, replicating dimensions that don't divide."""
    axes = logical_axes(path, len(shape))
    if len(axes) != len(shape):
        axes = (None,) * len(shape)
    spec = []
    for size, axis in zip(shape, axes):
        axis_size = mesh.shape[axis] if axis else 1
        spec.append(axis if axis and axis_size > 1 and size % axis_size == 0 else None)
    return PartitionSpec(*spec)


def variable_shardings(variables, mesh: Mesh) -> list[NamedSharding]:
    return [NamedSharding(mesh, partition_spec(v.path, tuple(v.shape), mesh)) for v in variables]


class UnmatchedShardingRuleError(ValueError):
    """A sharding rule that matches no variable of the model it is meant to shard."""


def check_rules_match(paths: Iterable[str]) -> None:
    """Raise UnmatchedShardingRuleError naming every rule that matches none of `paths` (a whole model's variables)."""
    paths = list(paths)
    unmatched = [
        f"{table} {pattern!r}"
        for table, rules in (("RULES", RULES), ("PACKED_RULES", PACKED_RULES))
        for pattern, _ in rules
        if not any(re.search(pattern, path) for path in paths)
    ]
    if unmatched:
        sample = ", ".join(paths[:4]) + (", ..." if len(paths) > 4 else "")
        raise UnmatchedShardingRuleError(
            f"sharding rule(s) {'; '.join(unmatched)} in parallel/sharding_rules.py match no variable of the model "
            f"({len(paths)} variables: {sample}); its weights would be replicated on every device instead of split. "
            "Update the rule to the model's variable paths"
        )


def model_shardings(model, mesh: Mesh) -> tuple[list[NamedSharding], list[NamedSharding]]:
    """(trainable, non-trainable) shardings of `model`'s variables, after checking every rule matches one."""
    check_rules_match(v.path for v in model.variables)
    return variable_shardings(model.trainable_variables, mesh), variable_shardings(model.non_trainable_variables, mesh)
