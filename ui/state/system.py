"""System usage for the Training page: CPU, RAM, disk and accelerators, sampled in the dashboard server.

gemma_jax.monitor.SystemSampler reads psutil and NVML without touching JAX; TPU memory
comes from the training process's own metrics (`device_memory_gb`). Samples are taken at
most every `interval_s`, so several open pages do not multiply the cost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ui.state.series import Series

SYSTEM_COLUMNS = ("time", "cpu_percent", "ram_percent", "accelerator_memory_percent", "accelerator_percent")


def _percent(used: Any, total: Any) -> float | None:
    if isinstance(used, (int, float)) and isinstance(total, (int, float)) and total > 0:
        return 100.0 * used / total
    return None


def flatten_sample(sample: dict[str, Any]) -> dict[str, Any]:
    """One history point from a SystemSampler sample (accelerators averaged)."""
    accelerators = sample.get("accelerators") or []
    memory = [_percent(a.get("memory_used_gb"), a.get("memory_total_gb")) for a in accelerators]
    memory = [m for m in memory if m is not None]
    busy = [a.get("utilization_percent") for a in accelerators]
    busy = [b for b in busy if isinstance(b, (int, float))]
    return {
        "time": sample.get("time", time.time()) * 1000.0,  # Bokeh datetime axes take milliseconds
        "cpu_percent": sample.get("cpu_percent"),
        "ram_percent": _percent(sample.get("ram_used_gb"), sample.get("ram_total_gb")),
        "accelerator_memory_percent": sum(memory) / len(memory) if memory else None,
        "accelerator_percent": sum(busy) / len(busy) if busy else None,
    }


class SystemUsage:
    """The latest system sample and its history, or why there is none."""

    def __init__(self, disk_paths: Sequence[str | Path] = (".",), interval_s: float = 5.0, max_points: int = 2000):
        self.interval_s = interval_s
        self.history = Series(SYSTEM_COLUMNS, max_points)
        self.latest: dict[str, Any] = {}
        self.error: str | None = None
        self._last = 0.0
        from gemma_jax.monitor import SystemSampler

        self.sampler = SystemSampler(disk_paths=[str(p) for p in disk_paths])

    def poll(self, now: float | None = None):
        """A SeriesUpdate for the history plot when a new sample was taken, else None."""
        now = time.time() if now is None else now
        if now - self._last < self.interval_s:
            return None
        self._last = now
        try:
            self.latest = self.sampler.sample()
        except Exception as err:  # noqa: BLE001  (psutil/NVML raise many types; a broken sensor must not break the page)
            self.error = f"system sample failed: {err}"
            return None
        self.error = None
        return self.history.add([flatten_sample(self.latest)])
