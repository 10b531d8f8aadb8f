"""Q4_K and Q6_K quantizers in numpy, because gguf-py only dequantizes these two types.

They follow ggml's reference quantizers (ggml-quants.c: `quantize_row_q4_K_ref` with
`make_qkx2_quants`, `quantize_row_q6_K_ref` with `make_qx_quants`, no importance matrix), with the
per-element loops vectorised over every sub-block at once. Rounding is ggml's `nearest_int` (round
half to even, what `np.rint` does) and the arithmetic is float32, as in C; only the summation order
differs, so a scale can differ from llama.cpp's in its last bit, never in kind. The byte layout is
ggml's `block_q4_K` (d, dmin, 12 packed 6-bit scales/mins, 128 bytes of nibbles) and `block_q6_K`
(128 bytes low nibbles, 64 bytes high bits, 16 int8 scales, d), which `gguf.quants.dequantize` reads.
"""

from __future__ import annotations

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

QK_K = 256
GROUP_MAX_EPS = np.float32(1e-15)
ROWS_PER_CHUNK_ELEMENTS = 1 << 22  # quantize about 4M weights at a time: bounded temporary memory

f32 = np.float32


def _nearest_int(x: np.ndarray) -> np.ndarray:
    return np.rint(x).astype(np.int32)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, numerator / np.where(denominator != 0, denominator, 1), 0).astype(f32)


# --- Q4_K -----------------------------------------------------------------------------------------


def _make_qkx2_quants(x: np.ndarray, weights: np.ndarray, nmax: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """ggml's make_qkx2_quants(n=32, nmax, rmin=-1, rdelta=0.1, nstep=20, use_mad=false) per row of `x`:
    returns (scale, -min), the affine fit `scale * L + min` of least weighted squared error."""
    x_min = np.minimum(x.min(axis=1), 0).astype(f32)
    x_max = x.max(axis=1)
    span = (x_max - x_min).astype(f32)
    flat = span == 0
    sum_w = weights.sum(axis=1, dtype=f32)
    sum_x = (weights * x).sum(axis=1, dtype=f32)

    iscale = _safe_divide(f32(nmax), span)
    scale = _safe_divide(f32(1), iscale)
    levels = np.clip(_nearest_int(iscale[:, None] * (x - x_min[:, None])), 0, nmax).astype(f32)
    diff = scale[:, None] * levels + x_min[:, None] - x
    best_error = (weights * diff * diff).sum(axis=1, dtype=f32)
    best_scale, best_min = scale, x_min.copy()
    for step in range(21):
        iscale = _safe_divide(f32(-1.0) + f32(0.1) * f32(step) + f32(nmax), span)
        trial = np.clip(_nearest_int(iscale[:, None] * (x - x_min[:, None])), 0, nmax).astype(f32)
        sum_l = (weights * trial).sum(axis=1, dtype=f32)
        sum_l2 = (weights * trial * trial).sum(axis=1, dtype=f32)
        sum_xl = (weights * trial * x).sum(axis=1, dtype=f32)
        det = sum_w * sum_l2 - sum_l * sum_l
        this_scale = _safe_divide(sum_w * sum_xl - sum_x * sum_l, det)
        this_min = _safe_divide(sum_l2 * sum_x - sum_l * sum_xl, det)
        positive_min = this_min > 0
        this_scale = np.where(positive_min, _safe_divide(sum_xl, sum_l2), this_scale)
        this_min = np.where(positive_min, f32(0), this_min)
        diff = this_scale[:, None] * trial + this_min[:, None] - x
        error = (weights * diff * diff).sum(axis=1, dtype=f32)
        better = (det > 0) & (error < best_error)
        best_error = np.where(better, error, best_error)
        best_scale = np.where(better, this_scale, best_scale)
        best_min = np.where(better, this_min, best_min)
    best_scale = np.where(flat, f32(0), best_scale).astype(f32)
    return best_scale, (-np.where(flat, x_min, best_min)).astype(f32)


def _pack_scale_min_k4(scales: np.ndarray, mins: np.ndarray) -> np.ndarray:
    """ggml's 12-byte packing of eight 6-bit scales and mins per block (see Q4_K.get_scale_min)."""
    packed = np.zeros((scales.shape[0], 12), np.uint8)
    packed[:, 0:4] = scales[:, 0:4] | ((scales[:, 4:8] >> 4) << 6)
    packed[:, 4:8] = mins[:, 0:4] | ((mins[:, 4:8] >> 4) << 6)
    packed[:, 8:12] = (scales[:, 4:8] & 0xF) | ((mins[:, 4:8] & 0xF) << 4)
    return packed


def quantize_q4_k_blocks(blocks: np.ndarray) -> np.ndarray:
    """(n, 256) float32 -> (n, 144) bytes of block_q4_K, as quantize_row_q4_K_ref."""
    n = blocks.shape[0]
    x = blocks.reshape(n * 8, 32).astype(f32)
    av_x = np.sqrt((x * x).sum(axis=1, dtype=f32) / f32(32))
    weights = av_x[:, None] + np.abs(x)
    scales, mins = (v.reshape(n, 8) for v in _make_qkx2_quants(x, weights))
    max_scale = np.maximum(scales.max(axis=1), 0)
    max_min = np.maximum(mins.max(axis=1), 0)
    inv_scale = _safe_divide(f32(63), max_scale)
    inv_min = _safe_divide(f32(63), max_min)
    # C stores nearest_int(...) in a uint8_t (wrapping) before MIN(63, ...)
    ls = np.minimum(_nearest_int(inv_scale[:, None] * scales) & 0xFF, 63).astype(np.uint8)
    lm = np.minimum(_nearest_int(inv_min[:, None] * mins) & 0xFF, 63).astype(np.uint8)
    d = (max_scale / f32(63)).astype(np.float16)
    dmin = (max_min / f32(63)).astype(np.float16)
    sub_d = (d.astype(f32)[:, None] * ls.astype(f32)).reshape(n * 8)
    sub_m = (dmin.astype(f32)[:, None] * lm.astype(f32)).reshape(n * 8)
    levels = np.clip(_nearest_int(_safe_divide(x + sub_m[:, None], sub_d[:, None])), 0, 15).astype(np.uint8)
    levels = levels.reshape(n, 4, 2, 32)  # 64-value groups: the first 32 in low nibbles, the next in high
    qs = (levels[:, :, 0, :] | (levels[:, :, 1, :] << 4)).reshape(n, 128)
    return np.concatenate(
        [d.reshape(n, 1).view(np.uint8), dmin.reshape(n, 1).view(np.uint8), _pack_scale_min_k4(ls, lm), qs], axis=1
    )


# --- Q6_K -----------------------------------------------------------------------------------------


def _make_qx_quants(x: np.ndarray, nmax: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """ggml's make_qx_quants(n=16, nmax, rmse_type=1, qw=NULL) per row: returns (scale, L + nmax)."""
    index = np.abs(x).argmax(axis=1)  # the first of the largest magnitudes, as the C loop keeps it
    peak = np.take_along_axis(x, index[:, None], axis=1)[:, 0]
    zero = np.abs(peak) < GROUP_MAX_EPS
    weights = x * x

    def fit(iscale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        levels = np.clip(_nearest_int(iscale[:, None] * x), -nmax, nmax - 1)
        lf = levels.astype(f32)
        return levels, (weights * x * lf).sum(axis=1, dtype=f32), (weights * lf * lf).sum(axis=1, dtype=f32)

    iscale = _safe_divide(f32(-nmax), peak)
    levels, sum_lx, sum_l2 = fit(iscale)
    scale = _safe_divide(sum_lx, sum_l2)
    best = scale * sum_lx
    for step in range(-9, 10):
        if step == 0:
            continue
        trial, trial_lx, trial_l2 = fit(_safe_divide(-(f32(nmax) + f32(0.1) * f32(step)), peak))
        better = (trial_l2 > 0) & (trial_lx * trial_lx > best * trial_l2)
        levels = np.where(better[:, None], trial, levels)
        scale = np.where(better, _safe_divide(trial_lx, trial_l2), scale)
        best = np.where(better, scale * trial_lx, best)
    scale = np.where(zero, f32(0), scale).astype(f32)
    levels = np.where(zero[:, None], 0, levels + nmax)
    return scale, levels


def quantize_q6_k_blocks(blocks: np.ndarray) -> np.ndarray:
    """(n, 256) float32 -> (n, 210) bytes of block_q6_K, as quantize_row_q6_K_ref."""
    n = blocks.shape[0]
    x = blocks.reshape(n * 16, 16).astype(f32)
    scales, levels = _make_qx_quants(x)
    scales = scales.reshape(n, 16)
    index = np.abs(scales).argmax(axis=1)
    max_scale = np.take_along_axis(scales, index[:, None], axis=1)[:, 0]
    empty = np.abs(max_scale) < GROUP_MAX_EPS
    iscale = _safe_divide(f32(-128), max_scale)
    d = np.where(empty, f32(0), _safe_divide(f32(1), iscale)).astype(np.float16)
    sub_scales = np.where(empty[:, None], 0, np.minimum(127, _nearest_int(iscale[:, None] * scales))).astype(np.int8)
    sub_d = (d.astype(f32)[:, None] * sub_scales.astype(f32)).reshape(n * 16)
    requantized = np.clip(_nearest_int(_safe_divide(x, sub_d[:, None])), -32, 31) + 32
    levels = np.where((sub_d != 0)[:, None], requantized, levels)  # a zero sub-scale keeps the first fit's levels
    levels = np.where(empty[:, None], 0, levels.reshape(n, QK_K)).astype(np.uint8)
    quarters = levels.reshape(n, 2, 4, 32)  # two 128-value halves, each four runs of 32
    low = quarters & 0xF
    ql = np.concatenate([low[:, :, 0] | (low[:, :, 2] << 4), low[:, :, 1] | (low[:, :, 3] << 4)], axis=2)
    high = quarters >> 4
    qh = high[:, :, 0] | (high[:, :, 1] << 2) | (high[:, :, 2] << 4) | (high[:, :, 3] << 6)
    return np.concatenate(
        [ql.reshape(n, 128), qh.reshape(n, 64), sub_scales.view(np.uint8), d.reshape(n, 1).view(np.uint8)], axis=1
    )


# --- rows -----------------------------------------------------------------------------------------

_BLOCK_QUANTIZERS = {GGMLQuantizationType.Q4_K: quantize_q4_k_blocks, GGMLQuantizationType.Q6_K: quantize_q6_k_blocks}


def quantize_k(data: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """A 2-D float matrix as rows of Q4_K or Q6_K blocks: uint8 (rows, cols / 256 * block bytes),
    the byte shape `gguf.GGUFWriter.add_tensor(..., raw_dtype=qtype)` takes. Rows must be a multiple of 256."""
    quantize_blocks = _BLOCK_QUANTIZERS[qtype]
    rows, cols = data.shape
    if cols % QK_K:
        raise ValueError(f"{qtype.name} needs rows of a multiple of {QK_K} values, not {cols}")
    type_size = GGML_QUANT_SIZES[qtype][1]
    out = np.empty((rows, cols // QK_K * type_size), np.uint8)
    step = max(1, ROWS_PER_CHUNK_ELEMENTS // cols)
    for start in range(0, rows, step):
        chunk = np.asarray(data[start : start + step], f32)
        out[start : start + step] = quantize_blocks(chunk.reshape(-1, QK_K)).reshape(chunk.shape[0], -1)
    return out
