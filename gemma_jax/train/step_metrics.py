"""Per-step figures for metrics.jsonl: throughput, TFLOP/s, MFU, memory."""

from __future__ import annotations

import math

import jax
import numpy as np
import psutil

from gemma_jax.runs.schema import Metric
from gemma_jax.train.flops import attended_pairs, device_peak_tflops, step_flops


class StepMeter:
    def __init__(self, decoder, *, full: bool, devices: int | None = None):
        self.decoder = decoder
        self.full = full
        self.devices = devices or jax.device_count()  # the mesh's devices share the step's FLOPs
        # The peak of the dtype the step's matmuls take (the backbone's compute dtype).
        compute = str(getattr(decoder.backbone.dtype_policy, "compute_dtype", "float32"))
        self.peak_tflops, self.peak_source = device_peak_tflops(dtype=compute)
        self._process = psutil.Process()

    def measure(self, host_batch: dict, step_time_s: float) -> dict:
        tokens = int((np.asarray(host_batch["segment_ids"]) > 0).sum())
        loss_tokens = int(np.asarray(host_batch["loss_valid"]).sum())
        flops = step_flops(
            self.decoder,
            tokens=tokens,
            attended_pairs=attended_pairs(host_batch["segment_ids"]),
            loss_positions=loss_tokens,
            full=self.full,
        )
        tflops = flops / max(step_time_s, 1e-9) / self.devices / 1e12
        return {
            Metric.TOKENS: tokens,
            Metric.TOKENS_PER_S: tokens / max(step_time_s, 1e-9),
            Metric.STEP_TIME_S: step_time_s,
            Metric.TFLOPS_PER_DEVICE: tflops,
            Metric.MFU: tflops / self.peak_tflops if self.peak_tflops else None,
            Metric.RSS_GB: self._process.memory_info().rss / 1e9,
            **device_memory(),
        }


def device_memory(devices=None) -> dict:
    """Accelerator memory in use and its peak, summed over this host's devices, where the backend
    reports it (TPU and GPU do; CPU usually does not, and then the keys are left out)."""
    stats = [device.memory_stats() or {} for device in (devices or jax.local_devices())]
    if not stats or any("bytes_in_use" not in s for s in stats):
        return {}
    return {
        Metric.DEVICE_MEMORY_GB: sum(s["bytes_in_use"] for s in stats) / 1e9,
        Metric.DEVICE_PEAK_MEMORY_GB: sum(s.get("peak_bytes_in_use", s["bytes_in_use"]) for s in stats) / 1e9,
    }


def is_finite(value: float) -> bool:
    return value is not None and math.isfinite(value)
