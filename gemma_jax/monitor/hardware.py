"""What this host trains on: GPUs (NVML), a TPU (PCI bus, device files, environment), else the CPU."""

from __future__ import annotations

import dataclasses
import os

import psutil

from gemma_jax.monitor.gpu import gpu_devices
from gemma_jax.monitor.tpu import tpu_chips

GIB = 2**30


@dataclasses.dataclass(frozen=True)
class Hardware:
    kind: str  # "cpu" | "gpu" | "tpu"
    name: str
    device_count: int  # GPUs or TPU chips on this host; CPU cores for "cpu"
    memory_per_device_bytes: int | None  # None for the CPU, or when the TPU's memory is unknown
    host_memory_bytes: int

    def describe(self) -> str:
        """One line for the dashboard: "1× NVIDIA H200, 140 GiB" / "CPU, 2 cores, 24 GiB RAM"."""
        host = f"{self.host_memory_bytes / GIB:.0f} GiB RAM"
        if self.kind == "cpu":
            return f"CPU, {self.device_count} cores, {host}"
        memory = f", {self.memory_per_device_bytes / GIB:.0f} GiB" if self.memory_per_device_bytes else ""
        return f"{self.device_count}× {self.name}{memory}"


def detect_hardware() -> Hardware:
    """GPUs first (NVML), then a TPU, else the CPU; asks the OS and drivers, never JAX."""
    host_memory = psutil.virtual_memory().total
    gpus = gpu_devices()
    if gpus:
        return Hardware("gpu", gpus[0]["name"], len(gpus), gpus[0]["memory_total"], host_memory)
    tpu = tpu_chips()
    if tpu:
        name, chips, memory = tpu
        return Hardware("tpu", name, chips, memory, host_memory)
    cores = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    return Hardware("cpu", "CPU", cores, None, host_memory)
