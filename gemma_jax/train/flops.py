"""Model FLOPs per step and the device's peak, for TFLOP/s and MFU.

FLOPs count the matmuls the step really needs: the decoder on every
non-padding token, attention over each token's own segment, and the output
head at loss positions only. The backward pass costs 2x the forward for
weights being trained and 1x for frozen ones (activation gradients only);
attention has no weights, and its backward (gradients of queries, keys and
values) is always 2x its forward.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import keras
import numpy as np

from gemma_jax.compat.keras import stored_kernel, sublayers
from gemma_jax.train.mixed_einsum import accumulate_in_float32

# Dense bf16 peak TFLOP/s per chip (per device as JAX sees it).
PEAK_TFLOPS = {
    "TPU v4": 275.0,
    "TPU v5 lite": 197.0,  # v5e
    "TPU v5e": 197.0,
    "TPU v5p": 459.0,
    "TPU v5": 459.0,
    "TPU v6 lite": 918.0,  # v6e (Trillium)
    "TPU v6e": 918.0,
    "A100": 312.0,
    "H100": 989.0,
    "H200": 989.0,
}


def decoder_matmul_params(decoder) -> int:
    """Weights that take part in per-token matmuls (the projections of every block)."""
    total = 0
    for block in decoder.backbone.transformer_layers:
        for layer in sublayers(block, include_self=False):
            if isinstance(layer, keras.layers.EinsumDense):
                # A quantized kernel (int4 packs two values per byte) keeps its float shape here.
                total += int(np.prod(getattr(layer, "original_kernel_shape", None) or stored_kernel(layer).shape))
    return total


def step_flops(decoder, *, tokens: int, attended_pairs: int, loss_positions: int, full: bool) -> float:
    """FLOPs of one optimizer step over `tokens` non-padding tokens.

    attended_pairs: sum over segments of L*(L+1)/2 (causal query/key pairs).
    """
    backbone = decoder.backbone
    body = 2.0 * decoder_matmul_params(decoder) * tokens
    heads_dim = backbone.num_query_heads * backbone.head_dim
    attention = 4.0 * attended_pairs * heads_dim * backbone.num_layers  # QK^T and AV
    head = 2.0 * backbone.hidden_dim * backbone.vocabulary_size * loss_positions
    weights = body + head
    return 3.0 * attention + (3.0 if full else 2.0) * weights


def attended_pairs(segment_ids: np.ndarray) -> int:
    """Causal attention pairs inside each packed segment of a host batch."""
    total = 0
    for row in np.asarray(segment_ids).reshape(-1, segment_ids.shape[-1]):
        _, counts = np.unique(row[row > 0], return_counts=True)
        total += int((counts * (counts + 1) // 2).sum())
    return total


def _probe_cache_path() -> Path:
    root = os.environ.get("GEMMA_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "gemma_jax"))
    return Path(root) / "matmul_peak.json"


def measure_matmul_peak(size: int = 2048, dtype=jnp.float32, repeats: int = 10) -> float:
    """TFLOP/s of a large square matmul on one device: the practical peak on CPUs.

    The dot is the training step's own kind (`mixed_einsum.accumulate_in_float32`): bf16 operands
    accumulate in float32 on a CPU with bf16 units (AMX), where that is the fast path, and give a bf16
    result elsewhere (faster on a CPU without them), so MFU is against the path the step takes.
    """
    device = jax.local_devices()[0]
    a = jax.device_put(jnp.ones((size, size), dtype), device)
    preferred = jnp.float32 if accumulate_in_float32(dtype) else None
    matmul = jax.jit(lambda x: jax.lax.dot(x, x, preferred_element_type=preferred))
    matmul(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e12


def device_peak_tflops(device=None, dtype: str = "float32") -> tuple[float, str]:
    """(peak TFLOP/s per device for matmuls in `dtype`, where the number comes from).

    Accelerators: the dense bf16 spec-sheet figure (the peak MFU is quoted against). CPUs: a probe of
    the dtype the step computes in, so a bf16 step is measured against the bf16 units' real peak.
    """
    device = device or jax.local_devices()[0]
    kind = getattr(device, "device_kind", "")
    for name, peak in PEAK_TFLOPS.items():
        if name.lower() in kind.lower():
            return peak, f"spec sheet ({kind})"
    cache = _probe_cache_path()
    accumulation = "f32acc" if accumulate_in_float32(dtype) else "own"  # the dot kind measured
    key = f"{jax.default_backend()}:{kind}:{os.cpu_count()}:{len(jax.devices())}:{dtype}:{accumulation}"
    try:
        cached = json.loads(cache.read_text())
        if key in cached:
            return cached[key], f"{dtype} matmul probe (cached)"
    except (OSError, ValueError):
        cached = {}
    peak = measure_matmul_peak(dtype=jnp.dtype(dtype))
    cached[key] = peak
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(cached))
    except OSError:
        pass
    return peak, f"{dtype} matmul probe"
