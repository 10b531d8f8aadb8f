"""How much memory fine-tuning a Gemma takes, before loading it: per device, on any mesh.

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
  With remat (train/tied_remat.py) a block keeps only its input and one block is
  recomputed at a time;
- gathered weights (TPU/GPU): under fsdp a device all-gathers a block's kernels
  before using them (QLoRA dequantizes them); GATHERED_BLOCKS blocks are assumed
  live at once (the one in use and the next, prefetched);
- runtime: on CPU, the resident memory of a process that has imported JAX,
  Keras and Keras-Hub (TensorFlow) and compiled the step, measured on a CPU host.

On a (data, fsdp, model) mesh, weights, gradients and optimizer moments are cut
as parallel/sharding_rules.py cuts them (models/weight_layout.py: fsdp splits
the hidden dimension, model the heads/feed-forward/vocabulary one, data
replicates), and the rows of a batch are split over data × fsdp.

What holds where: the weight, gradient and optimizer sizes follow from the
shapes and our code on every backend. The per-block tensor counts, the remat
factors, XLA:CPU's own weight copies and the runtime were fitted on XLA:CPU
(tests/models/test_memory_estimate.py compares them with compiled steps and
measured peaks); TPU and GPU borrow the tensor counts until someone measures
them there, and every such estimate carries a note saying so.

Importing this module imports neither JAX nor Keras.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

from gemma_jax.cpu_features import cpu_has_bf16_units
from gemma_jax.models.variant_shape import GemmaShape
from gemma_jax.models.weight_layout import (
    INT4_BLOCK,  # noqa: F401  (re-exported: the estimate's int4 layout)
    base_tensors,
    block_tensors,
    embedding_pieces,
    lora_tensors,
    parameters_per_device,
    per_device,
)

GB = 1e9
GiB = 2**30

# --- Follows from our code and the shapes: holds on every backend. ---
LOSS_CHUNK = 8192  # vocabulary rows per chunk in chunked_cross_entropy
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
METHODS = ("full", "lora", "qlora")
# Optimizer moments per trainable parameter, in f32 values (Adafactor keeps factored row/column
# statistics: a negligible fraction for matrices, counted as none).
OPTIMIZER_MOMENTS = {"adamw": 2, "lion": 1, "sgd": 1, "adafactor": 0}
GRADIENT_COPIES = 2  # the step's f32 accumulator and one microbatch's gradients
# An assumption, not a measurement: blocks of all-gathered (or dequantized) weights live at once on TPU/GPU.
GATHERED_BLOCKS = 2


class _BlockTensors(NamedTuple):
    """Tensors the backward pass keeps per decoder block, in units of one tensor of each shape."""

    hidden: float  # [tokens, hidden_dim], compute dtype
    ffn: float  # [tokens, ffn_dim], compute dtype
    query: float  # [tokens, heads * head_dim], compute dtype
    key_value: float  # [tokens, kv_heads * head_dim], compute dtype
    scores: float  # [rows, heads, seq, seq], float32
    head_hidden: float  # [loss tokens, hidden_dim] float32 around the loss head (once per step)
    head_chunk: float  # [loss tokens, LOSS_CHUNK] float32 logits blocks of the chunked loss (once per step)


@dataclass(frozen=True)
class BackendFactors:
    """The constants of the estimate that depend on the XLA backend, and where they were fitted."""

    saved: _BlockTensors  # per block, kept for the backward pass (same counts for f32 and bf16)
    remat_input_copies: float  # with remat: copies of each block's input kept
    remat_live_block: float  # with remat: the fraction of one block's saved tensors live while it is recomputed
    relayout_copies: float  # copies of each attention kernel XLA:CPU relays out for its matmuls and keeps
    f32_weight_copies: bool  # XLA:CPU's bf16 steps keep float32 tensors beside the bf16 ones (`_bf16_on_cpu`)
    runtime_bytes: float  # the process itself (imports, compiler, executables), counted against the job
    fitted_on: str  # the backend the factors were measured on


# --- Fitted on XLA:CPU: counted from XLA's buffer assignment of compiled steps of many shapes, and the
# resident memory of `import jax, keras, keras_hub` + gemma_jax.train (0.87 GB) plus compiling (0.35 GB). ---
CPU_RUNTIME_BYTES = 0.87 * GB
CPU_COMPILE_BYTES = 0.35 * GB
CPU_FACTORS = BackendFactors(
    saved=_BlockTensors(hidden=5.2, ffn=3.8, query=4.7, key_value=4.4, scores=3.9, head_hidden=13.6, head_chunk=0.5),
    remat_input_copies=2.0,
    remat_live_block=0.6,
    relayout_copies=2.0,
    f32_weight_copies=True,
    runtime_bytes=CPU_RUNTIME_BYTES + CPU_COMPILE_BYTES,
    fitted_on="XLA:CPU",
)
# --- TPU and GPU: not measured yet. The saved-tensor counts and remat factors are XLA:CPU's (they follow
# the step's dataflow, but XLA:TPU/GPU fuse differently); XLA:CPU's own copies and runtime do not apply. ---
ACCELERATOR_FACTORS = replace(CPU_FACTORS, relayout_copies=0.0, f32_weight_copies=False, runtime_bytes=0.0)
FACTORS = {"cpu": CPU_FACTORS, "tpu": ACCELERATOR_FACTORS, "gpu": ACCELERATOR_FACTORS}
_BACKEND_NAMES = {"cpu": "XLA:CPU", "tpu": "XLA:TPU", "gpu": "XLA:GPU"}


def backend_factors(platform: str) -> BackendFactors:
    return FACTORS.get(platform, ACCELERATOR_FACTORS)


def factors_measured(platform: str) -> bool:
    """Whether the backend-dependent factors were fitted on this platform's own backend."""
    return backend_factors(platform).fitted_on == _BACKEND_NAMES.get(platform)


def backend_notes(platform: str) -> tuple[str, ...]:
    """What an estimate on `platform` rests on that was not measured there."""
    if factors_measured(platform):
        return ()
    where = platform.upper() if platform in ("tpu", "gpu") else platform
    fitted = backend_factors(platform).fitted_on
    return (f"activation factor fitted on {fitted}; not yet measured on {where}",)


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of one training step, by component, in bytes (per device on a mesh)."""

    method: str
    batch_size: int  # rows per microbatch, all devices together
    sequence_length: int
    dtype: str
    weights: int
    trainable_state: int
    activations: int
    runtime: int
    trainable_params: int  # of the whole model
    gathered: int = 0  # all-gathered / dequantized block weights (TPU/GPU)
    mesh: tuple[int, int, int] = (1, 1, 1)  # (data, fsdp, model)
    platform: str = "cpu"
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.weights + self.trainable_state + self.activations + self.gathered + self.runtime

    @property
    def exact(self) -> int:
        """The part that follows from the shapes alone: weights and trainable state."""
        return self.weights + self.trainable_state

    @property
    def rows_per_device(self) -> int:
        return -(-self.batch_size // (self.mesh[0] * self.mesh[1]))

    def as_dict(self) -> dict:
        return {**asdict(self), "total": self.total, "rows_per_device": self.rows_per_device}


def quantized_block_bytes(shape: GemmaShape, quantization: str, scale_bytes: int) -> int:
    """The decoder-block projections as Keras' int8/int4 EinsumDense stores them (weight_layout.block_tensors)."""
    return per_device(block_tensors(shape, quantization, scale_bytes))


def weight_bytes(
    shape: GemmaShape, method: str, dtype: str, quantization: str = "int4", *, fsdp: int = 1, model: int = 1
) -> int:
    """The base model as the step holds it (on one device of a mesh with these fsdp and model sizes).
    Keras-Hub keeps the vision tower in float32 whatever the dtype."""
    return per_device(base_tensors(shape, DTYPE_BYTES[dtype], quantization if method == "qlora" else None), fsdp, model)


def trainable_parameters(shape: GemmaShape, method: str, lora_rank: int, lora_targets) -> int:
    if method == "full":
        return shape.parameter_count()
    return shape.lora_parameters(lora_rank, lora_targets)


def trainable_parameters_per_device(
    shape: GemmaShape, method: str, lora_rank: int, lora_targets, *, fsdp: int = 1, model: int = 1
) -> int:
    """The trainable parameters one device holds (its shard of each, or the whole of a replicated one)."""
    tensors = base_tensors(shape, 1) if method == "full" else lora_tensors(shape, lora_rank, lora_targets)
    return parameters_per_device(tensors, fsdp, model)


def trainable_state_bytes(trainable: int, method: str, dtype: str, optimizer: str) -> int:
    """f32 master copies, f32 gradients, optimizer moments, and the compute-dtype copy of the masters.

    Full fine-tuning in float32 trains the model's own buffers (the master copy is the weights already
    counted); in bfloat16 it adds f32 masters next to the bf16 weights.
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
    embedding_shards: int = 1,
) -> int:
    """What the forward pass leaves for the backward pass, plus the loss head and XLA's copies, for
    `batch_size` rows on one device (`embedding_shards`: the pieces the mesh cuts the embedding into)."""
    size = DTYPE_BYTES[dtype]
    factors = backend_factors(platform)
    saved = factors.saved
    tokens = batch_size * sequence_length
    per_token = (
        saved.hidden * shape.hidden_dim
        + saved.ffn * shape.ffn_dim
        + saved.query * shape.num_query_heads * shape.head_dim
        + saved.key_value * shape.num_key_value_heads * shape.head_dim
    )
    one_block = tokens * per_token * size + saved.scores * batch_size * shape.num_query_heads * sequence_length**2 * 4
    if remat:  # every block keeps its input (and XLA a second copy); one block is recomputed at a time
        inputs = factors.remat_input_copies * tokens * shape.hidden_dim * size
        blocks = shape.num_layers * inputs + factors.remat_live_block * one_block
    else:
        blocks = shape.num_layers * one_block
    capacity = loss_tokens if loss_tokens is not None else 64 * -(-tokens // 64)
    chunk = min(LOSS_CHUNK, shape.vocabulary_size)
    head = capacity * (saved.head_hidden * shape.hidden_dim + saved.head_chunk * chunk) * 4
    padded_vocabulary = -(-shape.vocabulary_size // chunk) * chunk
    # chunked_loss pads the embedding to whole chunks: a copy of the table unless the chunks tile it.
    padding_copy = padded_vocabulary * shape.hidden_dim * size if padded_vocabulary != shape.vocabulary_size else 0
    total = blocks + head + padding_copy / max(1, embedding_shards)
    total += _backend_copies(shape, factors)
    if size != 4 and factors.f32_weight_copies:
        total += _bf16_on_cpu(shape, tokens, shape.num_layers if not remat else 1)
    return int(total)


def _backend_copies(shape: GemmaShape, factors: BackendFactors) -> float:
    """XLA:CPU relays out the attention kernels for its matmuls and keeps the copies for the backward pass."""
    kernels = shape.projection_shapes()
    attention = sum(_product(kernels[t]) for t in ("query", "key", "value", "attention_output"))
    return factors.relayout_copies * shape.num_layers * attention * 4


def _bf16_on_cpu(shape: GemmaShape, tokens: int, live_blocks: int) -> float:
    """The float32 tensors a bf16 step keeps on XLA:CPU, for `live_blocks` blocks' backward at once.

    With bf16 units the MLP's gate and up sums stay float32 (train/packed_decoder.py). Without, XLA
    computes bf16 dots from float32 copies of their operands: the embedding table's for the head, and
    the blocks' kernels, kept for the backward pass unless blocks are recomputed (fitted on XLA:CPU).
    """
    if cpu_has_bf16_units():
        return live_blocks * tokens * 2 * shape.ffn_dim * 4
    body = shape.parameter_count() - shape.vision_parameters() - shape.vocabulary_size * shape.hidden_dim
    return (shape.vocabulary_size * shape.hidden_dim + (body if live_blocks > 1 else 0)) * 4


def gathered_bytes(shape: GemmaShape, method: str, dtype: str, platform: str, fsdp: int, model: int) -> int:
    """All-gathered (fsdp > 1) or dequantized (QLoRA) block kernels on TPU/GPU: GATHERED_BLOCKS blocks in
    the compute dtype (still split over the model axis), plus, for full fine-tuning under fsdp, one block's
    f32 gradient before it is reduce-scattered. None on CPU, where the fitted factors include what there is."""
    if platform == "cpu" or (fsdp <= 1 and method != "qlora"):
        return 0
    size = DTYPE_BYTES[dtype]
    one_block = per_device(block_tensors(shape, None, size), 1, model) / shape.num_layers
    gradient = one_block * 4 / size if (method == "full" and fsdp > 1) else 0
    return int(GATHERED_BLOCKS * one_block + gradient)


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
    mesh: tuple[int, int, int] | None = None,
    loss_tokens: int | None = None,
) -> MemoryEstimate:
    """Peak memory of one training step of `shape` on one device of `mesh` (data, fsdp, model; default
    `devices` on fsdp): weights, gradients and optimizer state as the mesh shards them, the `batch_size`
    rows split over data × fsdp. The runtime term is per process, CPU only."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {' | '.join(METHODS)}")
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {' | '.join(DTYPE_BYTES)}")
    data, fsdp, model = tuple(mesh) if mesh is not None else (1, max(1, devices), 1)
    rows = -(-batch_size // (data * fsdp))
    local = trainable_parameters_per_device(shape, method, lora_rank, lora_targets, fsdp=fsdp, model=model)
    activations = activation_bytes(
        shape,
        batch_size=rows,
        sequence_length=sequence_length,
        dtype=dtype,
        method=method,
        remat=remat,
        platform=platform,
        loss_tokens=loss_tokens,
        embedding_shards=embedding_pieces(shape, fsdp, model),
    )
    notes = backend_notes(platform)
    if platform != "cpu" and (fsdp > 1 or method == "qlora"):
        notes += (f"{GATHERED_BLOCKS} blocks of gathered/dequantized weights assumed live at once; not measured",)
    if model > 1:
        notes += ("activations are counted whole on the model axis (its split of heads and ffw is not counted)",)
    return MemoryEstimate(
        method=method,
        batch_size=batch_size,
        sequence_length=sequence_length,
        dtype=dtype,
        weights=weight_bytes(shape, method, dtype, quantization, fsdp=fsdp, model=model),
        trainable_state=trainable_state_bytes(local, method, dtype, optimizer),
        activations=activations,
        runtime=int(backend_factors(platform).runtime_bytes),
        trainable_params=trainable_parameters(shape, method, lora_rank, lora_targets),
        gathered=gathered_bytes(shape, method, dtype, platform, fsdp, model),
        mesh=(data, fsdp, model),
        platform=platform,
        notes=notes,
    )


def _product(shape) -> int:
    total = 1
    for size in shape:
        total *= int(size)
    return total
