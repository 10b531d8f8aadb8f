"""How much memory fine-tuning a Gemma takes, before loading it.

The estimate adds up what our training step (train/setup.py, step.py,
packed_decoder.py, chunked_loss.py) actually keeps alive at its peak:

- weights: the base model in the weight dtype; QLoRA stores the decoder-block
  projections as int8 (one scale per output channel) or int4 (two per byte, a
  scale and zero point per 128 input rows), the embedding stays in the dtype;
- trainable state: f32 master copies, f32 gradients (the accumulator and one
  microbatch's), optimizer moments (AdamW: two f32 per parameter) and the
  compute-dtype copy the step casts the masters to;
- activations: what the backward pass keeps per decoder block, counted as
  tensors of the shapes the block produces ([tokens, hidden], [tokens, ffn],
  queries, keys/values in the compute dtype, and f32 attention scores
  [rows, heads, seq, seq]), plus the loss head (gathered hidden states and the
  [loss tokens, 8192] vocabulary chunk; [batch, seq, vocab] logits never exist).
  The counts per block come from XLA's buffer assignment of this step on CPU
  (tests/models/test_memory_estimate.py compares them with compiled steps);
  with remat (train/tied_remat.py) a block keeps only its input and one block is
  recomputed at a time;
- runtime: on CPU, the resident memory of a process that has imported JAX,
  Keras and Keras-Hub (TensorFlow) and compiled the step, measured on a CPU host.

Importing this module imports neither JAX nor Keras.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

from gemma_jax.models.variant_shape import GemmaShape

GB = 1e9
LOSS_CHUNK = 8192  # vocabulary rows per chunk in chunked_cross_entropy
INT4_BLOCK = 128  # input rows per int4 scale/zero point (models/quantization.py)
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
METHODS = ("full", "lora", "qlora")
# Optimizer moments per trainable parameter, in f32 values (Adafactor keeps factored row/column
# statistics: a negligible fraction for matrices, counted as none).
OPTIMIZER_MOMENTS = {"adamw": 2, "lion": 1, "sgd": 1, "adafactor": 0}
# Resident memory of `import jax, keras, keras_hub` plus gemma_jax.train on a CPU host, and what
# compiling the step adds (LLVM, executables, allocator slack); measured on the project's CPU machine.
CPU_RUNTIME_BYTES = 0.87 * GB
CPU_COMPILE_BYTES = 0.35 * GB
GRADIENT_COPIES = 2  # the step's f32 accumulator and one microbatch's gradients
CPU_RELAYOUT_COPIES = 2.0
REMAT_LIVE_BLOCK = 0.6  # of one block's saved tensors, what is live at once while it is recomputed  # XLA:CPU's copies of each attention kernel kept for the backward pass


class _BlockTensors(NamedTuple):
    """Tensors the backward pass keeps per decoder block, in units of one tensor of each shape."""

    hidden: float  # [tokens, hidden_dim], compute dtype
    ffn: float  # [tokens, ffn_dim], compute dtype
    query: float  # [tokens, heads * head_dim], compute dtype
    key_value: float  # [tokens, kv_heads * head_dim], compute dtype
    scores: float  # [rows, heads, seq, seq], float32
    head_hidden: float  # [loss tokens, hidden_dim] float32 around the loss head (once per step)
    head_chunk: float  # [loss tokens, LOSS_CHUNK] float32 logits blocks of the chunked loss (once per step)


# Counted on XLA:CPU from compiled steps of many shapes (see the module docstring).
SAVED_TENSORS = {
    "float32": _BlockTensors(
        hidden=5.2, ffn=3.8, query=4.7, key_value=4.4, scores=3.9, head_hidden=13.6, head_chunk=0.5
    ),
    "bfloat16": _BlockTensors(
        hidden=5.2, ffn=3.8, query=4.7, key_value=4.4, scores=3.9, head_hidden=13.6, head_chunk=0.5
    ),
}


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of one training step, by component, in bytes."""

    method: str
    batch_size: int
    sequence_length: int
    dtype: str
    weights: int
    trainable_state: int
    activations: int
    runtime: int
    trainable_params: int

    @property
    def total(self) -> int:
        return self.weights + self.trainable_state + self.activations + self.runtime

    def as_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def _kernel_rows_columns(target: str, kernel: tuple[int, ...]) -> tuple[int, int]:
    """(input rows, output columns) a quantizer sees: query/key/value reduce the hidden axis,
    the attention output reduces heads and head_dim, the feed-forward kernels are plain matrices."""
    if target in ("query", "key", "value"):
        heads, hidden, head_dim = kernel
        return hidden, heads * head_dim
    if target == "attention_output":
        heads, head_dim, hidden = kernel
        return heads * head_dim, hidden
    return kernel[0], kernel[1]


def quantized_block_bytes(shape: GemmaShape, quantization: str, scale_bytes: int) -> int:
    """The decoder-block projections as Keras' int8/int4 EinsumDense stores them (models/quantization.py):
    int8 = one byte per weight + a scale per output column; int4 = two weights per byte + a scale and an
    int8 zero point per 128 input rows and output column + an f32 group index per input row."""
    total = 0
    for target, kernel in shape.projection_shapes().items():
        rows, columns = _kernel_rows_columns(target, kernel)
        if quantization == "int8":
            total += rows * columns + columns * scale_bytes
        elif quantization == "int4":
            groups = -(-rows // INT4_BLOCK)
            total += rows * -(-columns // 2) + groups * columns * (scale_bytes + 1) + rows * 4
        else:
            raise ValueError(f"unknown quantization {quantization!r}; use int8 or int4")
    return shape.num_layers * total


def weight_bytes(shape: GemmaShape, method: str, dtype: str, quantization: str = "int4") -> int:
    """The base model as the step holds it. Keras-Hub keeps the vision tower in float32 whatever the dtype."""
    size = DTYPE_BYTES[dtype]
    vision = shape.vision_parameters()
    text = shape.parameter_count() - vision
    if method != "qlora":
        return text * size + vision * 4
    block_kernels = shape.num_layers * sum(_product(k) for k in shape.projection_shapes().values())
    return (text - block_kernels) * size + vision * 4 + quantized_block_bytes(shape, quantization, size)


def trainable_parameters(shape: GemmaShape, method: str, lora_rank: int, lora_targets) -> int:
    if method == "full":
        return shape.parameter_count()
    return shape.lora_parameters(lora_rank, lora_targets)


def trainable_state_bytes(trainable: int, method: str, dtype: str, optimizer: str) -> int:
    """f32 master copies, f32 gradients, optimizer moments, and the compute-dtype copy of the masters.

    Full fine-tuning in float32 on one device trains the model's own buffers (the master copy is
    the weights already counted); in bfloat16 it adds f32 masters next to the bf16 weights.
    """
    size = DTYPE_BYTES[dtype]
    master = 0 if (method == "full" and size == 4) else 4
    compute_copy = 0 if size == 4 else size
    moments = 4 * OPTIMIZER_MOMENTS.get(optimizer, 2)
    return trainable * (master + GRADIENT_COPIES * 4 + moments + compute_copy)


def activation_bytes(
    shape: GemmaShape,
    *,
    batch_size: int,
    sequence_length: int,
    dtype: str,
    method: str,
    remat: bool,
    platform: str,
    loss_tokens: int | None = None,
) -> int:
    """What the forward pass leaves for the backward pass, plus the loss head and XLA's copies."""
    size = DTYPE_BYTES[dtype]
    tokens = batch_size * sequence_length
    saved = SAVED_TENSORS["float32" if size == 4 else "bfloat16"]
    per_token = (
        saved.hidden * shape.hidden_dim
        + saved.ffn * shape.ffn_dim
        + saved.query * shape.num_query_heads * shape.head_dim
        + saved.key_value * shape.num_key_value_heads * shape.head_dim
    )
    one_block = tokens * per_token * size + saved.scores * batch_size * shape.num_query_heads * sequence_length**2 * 4
    if remat:  # every block keeps its input (and XLA a second copy); one block is recomputed at a time
        blocks = shape.num_layers * 2 * tokens * shape.hidden_dim * size + REMAT_LIVE_BLOCK * one_block
    else:
        blocks = shape.num_layers * one_block
    capacity = loss_tokens if loss_tokens is not None else 64 * -(-tokens // 64)
    chunk = min(LOSS_CHUNK, shape.vocabulary_size)
    head = capacity * (saved.head_hidden * shape.hidden_dim + saved.head_chunk * chunk) * 4
    padded_vocabulary = -(-shape.vocabulary_size // chunk) * chunk
    # chunked_loss pads the embedding to whole chunks: a copy of the table unless the chunks tile it.
    padding_copy = padded_vocabulary * shape.hidden_dim * size if padded_vocabulary != shape.vocabulary_size else 0
    total = blocks + head + padding_copy
    if platform == "cpu":
        total += _cpu_copies(shape, size)
    return int(total)


def _cpu_copies(shape: GemmaShape, size: int) -> float:
    """XLA:CPU relays out the attention kernels for its matmuls and keeps the copies for the backward
    pass; with bfloat16 weights it also computes every matmul in float32 from f32 copies of the weights."""
    kernels = shape.projection_shapes()
    attention = sum(_product(kernels[t]) for t in ("query", "key", "value", "attention_output"))
    copies = CPU_RELAYOUT_COPIES * shape.num_layers * attention * 4
    if size != 4:
        copies += (shape.parameter_count() - shape.vision_parameters()) * 4
    return copies


def estimate_memory(
    shape: GemmaShape,
    method: str = "lora",
    *,
    batch_size: int = 8,
    sequence_length: int = 256,
    dtype: str = "bfloat16",
    lora_rank: int = 8,
    lora_targets=("query", "value"),
    quantization: str = "int4",
    optimizer: str = "adamw",
    remat: bool = False,
    platform: str = "cpu",
    devices: int = 1,
    loss_tokens: int | None = None,
) -> MemoryEstimate:
    """Peak memory of one training step of `shape` (per device when `devices` > 1: weights, optimizer
    state and batch rows are sharded over them; the runtime term is per process, CPU only)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {' | '.join(METHODS)}")
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {' | '.join(DTYPE_BYTES)}")
    trainable = trainable_parameters(shape, method, lora_rank, lora_targets)
    activations = activation_bytes(
        shape,
        batch_size=batch_size,
        sequence_length=sequence_length,
        dtype=dtype,
        method=method,
        remat=remat,
        platform=platform,
        loss_tokens=loss_tokens,
    )
    runtime = CPU_RUNTIME_BYTES + CPU_COMPILE_BYTES if platform == "cpu" else 0
    shards = max(1, devices)
    return MemoryEstimate(
        method=method,
        batch_size=batch_size,
        sequence_length=sequence_length,
        dtype=dtype,
        weights=weight_bytes(shape, method, dtype, quantization) // shards,
        trainable_state=trainable_state_bytes(trainable, method, dtype, optimizer) // shards,
        activations=activations // shards,
        runtime=int(runtime),
        trainable_params=trainable,
    )


def _product(shape) -> int:
    total = 1
    for size in shape:
        total *= int(size)
    return total
