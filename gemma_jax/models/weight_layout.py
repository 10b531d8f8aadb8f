"""Every weight the training step stores, with its size and how a device mesh splits it.

The memory estimate (memory_estimate.py) adds these up: on one device they are the bytes Keras
allocates; on a (data, fsdp, model) mesh each tensor is cut along the dimensions its sharding rule
names, and a dimension the axis does not divide stays whole, as `parallel/sharding_rules.py` does.
The axis tables below mirror that module's RULES and PACKED_RULES and its LoRA and quantization
conventions without importing JAX; tests/models/test_topology_memory.py checks them against it on
real Keras variables. The data axis never splits a weight (it replicates them).

Importing this module imports neither JAX nor Keras.
"""

from __future__ import annotations

from typing import NamedTuple

from gemma_jax.models.variant_shape import GemmaShape

INT4_BLOCK = 128  # input rows per int4 scale/zero point (models/quantization.py)

# Axis of every dimension of each projection kernel (parallel/sharding_rules.RULES).
KERNEL_AXES: dict[str, tuple[str | None, ...]] = {
    "query": ("model", "fsdp", None),  # [heads, hidden, head_dim]
    "key": ("model", "fsdp", None),
    "value": ("model", "fsdp", None),
    "attention_output": ("model", None, "fsdp"),  # [heads, head_dim, hidden]
    "ffw_gating": ("fsdp", "model"),  # [hidden, ffw]
    "ffw_gating_2": ("fsdp", "model"),
    "ffw_linear": ("model", "fsdp"),  # [ffw, hidden]
}
# int4 kernels are stored as [input rows, packed output columns] (parallel/sharding_rules.PACKED_RULES).
PACKED_AXES: dict[str, tuple[str | None, str | None]] = {
    "query": ("fsdp", "model"),
    "key": ("fsdp", "model"),
    "value": ("fsdp", "model"),
    "attention_output": ("model", "fsdp"),
    "ffw_gating": ("fsdp", "model"),
    "ffw_gating_2": ("fsdp", "model"),
    "ffw_linear": ("model", "fsdp"),
}
EMBEDDING_AXES = ("model", "fsdp")  # [vocab, hidden]


class Stored(NamedTuple):
    """One kind of stored tensor, counted over every decoder block that has it."""

    elements: int
    itemsize: float  # bytes per element
    fsdp_dim: int = 0  # size of the dimension the fsdp axis splits (0: none)
    model_dim: int = 0  # size of the dimension the model axis splits (0: none)

    def pieces(self, fsdp: int = 1, model: int = 1) -> int:
        return split(self.fsdp_dim, fsdp) * split(self.model_dim, model)

    def bytes_on(self, fsdp: int = 1, model: int = 1) -> float:
        return self.elements * self.itemsize / self.pieces(fsdp, model)


def split(size: int, axis: int) -> int:
    """Into how many pieces a mesh axis of `axis` devices cuts a dimension of `size` (1: kept whole)."""
    return axis if size and axis > 1 and size % axis == 0 else 1


def _stored(dims: tuple[int, ...], axes, itemsize: float, count: int = 1) -> Stored:
    sizes = {axis: dim for dim, axis in zip(dims, axes) if axis}
    elements = 1
    for dim in dims:
        elements *= int(dim)
    return Stored(count * elements, itemsize, sizes.get("fsdp", 0), sizes.get("model", 0))


def kernel_rows_columns(target: str, kernel: tuple[int, ...]) -> tuple[int, int]:
    """(input rows, output columns) a quantizer sees: query/key/value reduce the hidden axis,
    the attention output reduces heads and head_dim, the feed-forward kernels are plain matrices."""
    if target in ("query", "key", "value"):
        heads, hidden, head_dim = kernel
        return hidden, heads * head_dim
    if target == "attention_output":
        heads, head_dim, hidden = kernel
        return heads * head_dim, hidden
    return kernel[0], kernel[1]


def block_tensors(shape: GemmaShape, quantization: str | None, size: int) -> list[Stored]:
    """The projection kernels of every decoder block as Keras stores them: in the weight dtype (`size`
    bytes), or as its int8/int4 EinsumDense (models/quantization.py): int8 = one byte per weight + a
    scale per output column (replicated); int4 = two weights per byte + a scale and an int8 zero point
    per 128 input rows and output column (split like the packed columns) + an f32 group index per input
    row (replicated)."""
    layers = shape.num_layers
    tensors = []
    for target, kernel in shape.projection_shapes().items():
        rows, columns = kernel_rows_columns(target, kernel)
        if quantization is None:
            tensors.append(_stored(kernel, KERNEL_AXES[target], size, layers))
        elif quantization == "int8":
            tensors.append(_stored(kernel, KERNEL_AXES[target], 1, layers))
            tensors.append(Stored(layers * columns, size))
        elif quantization == "int4":
            row_axis, column_axis = PACKED_AXES[target]
            tensors.append(_stored((rows, -(-columns // 2)), (row_axis, column_axis), 1, layers))
            groups = -(-rows // INT4_BLOCK)
            tensors.append(_stored((groups, columns), (None, column_axis), size + 1, layers))
            tensors.append(Stored(layers * rows, 4))
        else:
            raise ValueError(f"unknown quantization {quantization!r}; use int8 or int4")
    return tensors


def base_tensors(shape: GemmaShape, size: int, quantization: str | None = None) -> list[Stored]:
    """The whole backbone: embedding (never quantized), block kernels, norm scales (replicated) and the
    vision tower (float32 whatever the dtype, and matched by no sharding rule: replicated)."""
    embedding = _stored((shape.vocabulary_size, shape.hidden_dim), EMBEDDING_AXES, size)
    embedding = embedding._replace(elements=shape.embedding_parameters())
    norms = Stored(shape.num_layers * shape.block_norm_parameters() + shape.hidden_dim, size)
    return [embedding, *block_tensors(shape, quantization, size), norms, Stored(shape.vision_parameters(), 4)]


def lora_tensors(shape: GemmaShape, rank: int, targets) -> list[Stored]:
    """LoRA factors (itemsize 1: bytes = parameters): A is kernel.shape[:-1] + (rank,) on the kernel's leading
    axes, B is (rank, kernel.shape[-1]) on its last axis; the rank dimension is never split."""
    kernels = shape.projection_shapes()
    tensors = []
    for target in targets:
        kernel, axes = kernels[target], KERNEL_AXES[target]
        tensors.append(_stored(kernel[:-1] + (rank,), axes[:-1] + (None,), 1, shape.num_layers))
        tensors.append(_stored((rank, kernel[-1]), (None, axes[-1]), 1, shape.num_layers))
    return tensors


def per_device(tensors: list[Stored], fsdp: int = 1, model: int = 1) -> int:
    """Bytes (or parameters, for itemsize 1) one device holds of `tensors` on a mesh with these axes."""
    return int(sum(t.bytes_on(fsdp, model) for t in tensors))


def parameters_per_device(tensors: list[Stored], fsdp: int = 1, model: int = 1) -> int:
    """Parameters (elements, whatever their dtype) one device holds of `tensors`."""
    return int(sum(t.elements / t.pieces(fsdp, model) for t in tensors))


def embedding_pieces(shape: GemmaShape, fsdp: int = 1, model: int = 1) -> int:
    """Into how many pieces the mesh cuts the embedding table."""
    return split(shape.hidden_dim, fsdp) * split(shape.vocabulary_size, model)
