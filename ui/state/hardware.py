"""The machine the wizard sizes a run for, and the memory budget a job has on it.

Detection is gemma_jax.monitor's (NVML, sysfs, environment): the dashboard never initialises JAX.
"""

from __future__ import annotations

from gemma_jax.monitor import Hardware, detect_hardware

__all__ = ["Hardware", "detect_hardware", "memory_budget"]


def memory_budget(hardware: Hardware) -> tuple[int, str, int]:
    """(bytes a job may use per device, memory platform for the estimate, device count).

    On a CPU (or an accelerator whose memory is unknown) the job shares the host's RAM.
    """
    if hardware.kind in ("gpu", "tpu") and hardware.memory_per_device_bytes:
        return int(hardware.memory_per_device_bytes), hardware.kind, max(1, hardware.device_count)
    return int(hardware.host_memory_bytes), "cpu", 1
