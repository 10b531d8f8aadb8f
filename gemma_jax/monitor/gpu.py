"""NVIDIA GPUs through NVML (the `pynvml` module of nvidia-ml-py), without CUDA or JAX.

Every call is guarded: no driver, no GPU or a failing query gives "no GPUs" or a
None figure, never an exception in the dashboard's poll loop.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_initialised = False


def _nvml() -> Any | None:
    """The initialised pynvml module, or None when NVML cannot start (no driver or no library)."""
    global _initialised
    try:
        import pynvml
    except ImportError:
        return None
    with _lock:
        if not _initialised:
            try:
                pynvml.nvmlInit()
            except Exception:  # noqa: BLE001  (NVMLError_LibraryNotFound, DriverNotLoaded, ...)
                return None
            _initialised = True
    return pynvml


def reset() -> None:
    """Forget the NVML session, so the next call initialises again (tests swap the module)."""
    global _initialised
    with _lock:
        _initialised = False


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def gpu_devices() -> list[dict[str, Any]]:
    """One dict per GPU: index, name, memory_used/total (bytes) and utilization_percent (None if unknown)."""
    nvml = _nvml()
    if nvml is None:
        return []
    try:
        count = nvml.nvmlDeviceGetCount()
    except Exception:  # noqa: BLE001
        return []
    devices = []
    for index in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = _text(nvml.nvmlDeviceGetName(handle))
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        except Exception:  # noqa: BLE001, S112  (a GPU that fell off the bus must not hide the others)
            continue
        try:
            utilization = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # noqa: BLE001  (not supported on some GPUs, e.g. under MIG)
            utilization = None
        devices.append(
            {
                "index": index,
                "name": name,
                "memory_used": int(memory.used),
                "memory_total": int(memory.total),
                "utilization_percent": utilization,
            }
        )
    return devices
